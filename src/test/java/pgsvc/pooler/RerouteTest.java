package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.router.Pgsvc;
import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * A reroute that reaches a client still queued in a pool that serves it (a topology callback of awaitMember's left
 * registered after the member was found at once) leaves it queued once; only a retired pool's waiters choose again.
 */
@ExtendWith(PgClusterExtension.class)
class RerouteTest {
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @Test
    void aClientQueuedInALivePoolIsNotQueuedTwice() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-reroute");
        Files.writeString(dir.resolve("userlist.txt"), "\"postgres\" \"postgres\"\n\"pgsvc_md5\" \"md5pass\"\n");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, "[databases]\npgsvc = host=127.0.0.1 port=" + PgCluster.shared().primary().port()
                + " dbname=pgsvc\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + port
                + "\nunix_socket_dir =\nauth_type = md5\nauth_file = " + dir.resolve("userlist.txt")
                + "\npool_mode = transaction\ndefault_pool_size = 1\nadmin_users = postgres\n"
                + "ignore_startup_parameters = extra_float_digits\n");
        try (Pgsvc pgsvc = Pgsvc.start(ini);
             Connection holder = connect(port, "pgsvc", "pgsvc_md5", "md5pass");
             Connection queued = connect(port, "pgsvc", "pgsvc_md5", "md5pass");
             Connection console = connect(port, "pgbouncer", "postgres", "postgres")) {
            holder.setAutoCommit(false);
            assertEquals("1", first(holder, "SELECT 1"), "the holder keeps the pool's one server");
            CompletableFuture<String> waiting = CompletableFuture.supplyAsync(() -> {
                try {
                    return first(queued, "SELECT 2");
                } catch (SQLException e) {
                    return e.toString();
                }
            });
            Await.until(DEADLINE, "the second client waits", () -> pools(console, "cl_waiting") == 1);
            int id = waitingClient(console);

            CompletableFuture<Boolean> found = new CompletableFuture<>();
            pgsvc.pooler().withClient(id, ClientConnection::reroute, found::complete);
            assertTrue(found.get(DEADLINE.toSeconds(), TimeUnit.SECONDS), "SHOW CLIENTS id " + id);
            // The reroute ran on the client's loop before withClient answered; SHOW POOLS reads the pool's queue.
            assertEquals(1, pools(console, "cl_waiting"), "queued once");

            holder.commit();
            assertEquals("2", waiting.get(DEADLINE.toSeconds(), TimeUnit.SECONDS));
            Await.until(DEADLINE, "no client waits and the server is idle",
                    () -> pools(console, "cl_waiting") == 0 && pools(console, "sv_idle") == 1);
        }
    }

    private static Connection connect(int port, String database, String user, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("preferQueryMode", "simple");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + database, p);
    }

    private static String first(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getString(1);
        }
    }

    /** A column of the pgsvc pool's row of SHOW POOLS. */
    private static int pools(Connection console, String column) throws SQLException {
        return row(console, "SHOW POOLS", "database", "pgsvc", column);
    }

    /** SHOW CLIENTS's id of the client that waits. */
    private static int waitingClient(Connection console) throws SQLException {
        return row(console, "SHOW CLIENTS", "state", "waiting", "id");
    }

    private static int row(Connection console, String show, String key, String value, String column)
            throws SQLException {
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery(show)) {
            while (rs.next()) {
                if (rs.getString(key).equals(value)) {
                    return rs.getInt(column);
                }
            }
        }
        throw new AssertionError("no row with " + key + " " + value + " in " + show);
    }
}
