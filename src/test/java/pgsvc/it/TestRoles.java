package pgsvc.it;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import pgsvc.testing.PgCluster;

/**
 * Login roles of one test class's own, so that what it counts in pg_stat_activity (backends of its user) is never
 * another class's leftover server connection. The primary asks such a role for SCRAM; pgsvc logs in to it with the
 * cleartext password of the userlist line.
 */
final class TestRoles {
    private TestRoles() {
    }

    /** Creates {@code role} with {@code password} if it does not exist, and lets it use database pgsvc. */
    static void create(String role, String password) throws SQLException {
        try (Connection c = PgCluster.shared().primary().connectAdmin()) {
            boolean exists;
            try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM pg_roles WHERE rolname = ?")) {
                ps.setString(1, role);
                try (ResultSet rs = ps.executeQuery()) {
                    exists = rs.next();
                }
            }
            try (Statement st = c.createStatement()) {
                if (!exists) {
                    st.execute("CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
                }
                st.execute("GRANT ALL ON DATABASE " + PgCluster.DATABASE + " TO " + role);
            }
        }
        try (Connection c = PgCluster.shared().primary().connect(PgCluster.DATABASE, PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD); Statement st = c.createStatement()) {
            st.execute("GRANT ALL ON SCHEMA public TO " + role);
        }
    }

    /** The fixture's userlist plus {@code role}'s line. */
    static String userlistWith(String role, String password) {
        return PoolerFixture.USERLIST + '"' + role + "\" \"" + password + "\"\n";
    }

    /** Backends of {@code role} on the primary, in any state. */
    static int backends(String role) throws SQLException {
        return count("SELECT count(*) FROM pg_stat_activity WHERE usename = ?", role);
    }

    /**
     * Backends of either role, counted in one look at pg_stat_activity: two separate counts are taken a login apart,
     * long enough for a server of one role to close and one of the other to log in between them.
     */
    static int backendsOfEither(String role, String otherRole) throws SQLException {
        return count("SELECT count(*) FROM pg_stat_activity WHERE usename IN (?, ?)", role, otherRole);
    }

    /** Backends of {@code role} on the primary in state {@code state} (e.g. "idle in transaction"). */
    static int backends(String role, String state) throws SQLException {
        return count("SELECT count(*) FROM pg_stat_activity WHERE usename = ? AND state = ?", role, state);
    }

    private static int count(String sql, String... args) throws SQLException {
        try (Connection c = PgCluster.shared().primary().connectAdmin();
             PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setString(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }
}
