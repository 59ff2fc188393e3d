package pgsvc.testing;

import java.sql.Connection;
import java.sql.SQLException;

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
        return Jdbc.connect(jdbcUrl(db), user, password);
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
