package pgsvc.it;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.function.Predicate;

/**
 * Reads the admin console over pgjdbc's simple query protocol, as exporters do; the fixture must list
 * {@code postgres} in admin_users or stats_users.
 */
final class ConsoleQueries {
    private ConsoleQueries() {
    }

    static Connection console(PoolerFixture p) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", "postgres");
        props.setProperty("password", "postgres");
        props.setProperty("preferQueryMode", "simple");
        return DriverManager.getConnection(p.url("pgbouncer"), props);
    }

    /** A column of SHOW POOLS for one pool, as an int; -1 if the pool is not listed. */
    static int poolColumn(PoolerFixture p, String database, String user, String column) throws SQLException {
        try (Connection c = console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW POOLS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(database) && rs.getString("user").equals(user)) {
                    return rs.getInt(column);
                }
            }
            return -1;
        }
    }

    /**
     * The client and server counts of SHOW POOLS for {@code user}, summed over the pools whose database matches (a
     * routed entry has a pool per endpoint, {@code db@host:port}); all zero when none is listed.
     */
    static Map<String, Integer> poolCounts(PoolerFixture p, Predicate<String> database, String user)
            throws SQLException {
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (String column : new String[] {"cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used",
            "sv_tested", "sv_login"}) {
            counts.put(column, 0);
        }
        try (Connection c = console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW POOLS")) {
            while (rs.next()) {
                if (database.test(rs.getString("database")) && rs.getString("user").equals(user)) {
                    for (Map.Entry<String, Integer> count : counts.entrySet()) {
                        count.setValue(count.getValue() + rs.getInt(count.getKey()));
                    }
                }
            }
        }
        return counts;
    }

    /** Every server connection a poolCounts result counts, in whatever state. */
    static int servers(Map<String, Integer> counts) {
        return counts.get("sv_active") + counts.get("sv_idle") + counts.get("sv_used") + counts.get("sv_tested")
                + counts.get("sv_login");
    }

    /** The value SHOW CONFIG gives for a setting. */
    static String config(PoolerFixture p, String key) throws SQLException {
        try (Connection c = console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW CONFIG")) {
            while (rs.next()) {
                if (rs.getString("key").equals(key)) {
                    return rs.getString("value");
                }
            }
            throw new IllegalArgumentException("SHOW CONFIG has no " + key);
        }
    }
}
