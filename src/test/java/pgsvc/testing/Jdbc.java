package pgsvc.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

/** How the harness opens a JDBC session to a server it started, whether a {@link PgServer} or a Patroni member. */
final class Jdbc {
    private Jdbc() {
    }

    /** A connection over TCP without TLS or GSS encryption; {@code password} may be null for a trust user. */
    static Connection connect(String url, String user, String password) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", user);
        if (password != null) {
            props.setProperty("password", password);
        }
        props.setProperty("connectTimeout", "10");
        props.setProperty("sslmode", "disable");
        props.setProperty("gssEncMode", "disable");
        return DriverManager.getConnection(url, props);
    }
}
