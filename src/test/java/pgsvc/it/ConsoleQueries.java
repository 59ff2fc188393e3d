package pgsvc.it;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

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
