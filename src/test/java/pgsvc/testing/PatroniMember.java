package pgsvc.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

/**
 * One member of a {@link PatroniCluster}: its Patroni name, and where its PostgreSQL and Patroni's REST API listen.
 * Which member leads changes over time; ask the cluster ({@link PatroniCluster#leader()}), not the member.
 */
public record PatroniMember(String name, String host, int pgPort, int restPort) {

    public String jdbcUrl(String db) {
        return "jdbc:postgresql://" + host + ":" + pgPort + "/" + db;
    }

    /** The base URL of Patroni's REST API, without a trailing slash. */
    public String restUrl() {
        return "http://" + host + ":" + restPort;
    }

    /** A JDBC connection over TCP; {@code password} may be null for a trust user. */
    public Connection connect(String db, String user, String password) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", user);
        if (password != null) {
            props.setProperty("password", password);
        }
        props.setProperty("connectTimeout", "10");
        props.setProperty("sslmode", "disable");
        props.setProperty("gssEncMode", "disable");
        return DriverManager.getConnection(jdbcUrl(db), props);
    }

    /** A superuser connection to database {@code postgres}. */
    public Connection connectAdmin() throws SQLException {
        return connect("postgres", PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD);
    }

    @Override
    public String toString() {
        return name + "@" + host + ":" + pgPort + " (rest " + restPort + ")";
    }
}
