package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgClusterExtension;

/**
 * A flood of connections that never log in, up to max_client_conn: a real client is refused with PgBouncer's
 * error while they hold their slots, client_login_timeout ends each of them, and then pgsvc serves again.
 */
@ExtendWith(PgClusterExtension.class)
class HalfOpenFloodTest {
    private static final int MAX = 20;

    @Test
    void halfOpenConnectionsAreEndedByClientLoginTimeout() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("max_client_conn", Integer.toString(MAX));
        settings.put("client_login_timeout", "1");
        // Accepted at once, so that each silent connection reaches pgsvc and holds a slot (see the test below).
        settings.put("tcp_defer_accept", "0");
        try (PoolerFixture p = PoolerFixture.start(settings)) {
            List<Socket> flood = new ArrayList<>();
            try {
                for (int i = 0; i < MAX; i++) {
                    Socket s = new Socket();
                    s.setSoTimeout(30_000);
                    s.connect(new InetSocketAddress("127.0.0.1", p.port()), 10_000);
                    flood.add(s);
                }
                // Connected as far as the kernel goes; the slots are taken once pgsvc has accepted them all.
                Await.until(Duration.ofSeconds(20), "pgsvc holds the silent connections",
                        () -> p.pgsvc().pooler().clientCount() == MAX);
                SQLException full = assertThrows(SQLException.class, () -> p.connect("pgsvc_md5", "md5pass").close());
                assertTrue(full.getMessage().contains("no more connections allowed (max_client_conn)"),
                        full.getMessage());
                for (Socket s : flood) {
                    // Each silent connection gets a FATAL when its login time is up, then the end of the stream.
                    byte[] answer = s.getInputStream().readAllBytes();
                    assertTrue(answer.length > 0 && answer[0] == 'E', "an ErrorResponse, got " + answer.length
                            + " bytes");
                    assertTrue(new String(answer, java.nio.charset.StandardCharsets.US_ASCII)
                            .contains("client_login_timeout"));
                }
            } finally {
                for (Socket s : flood) {
                    closeQuietly(s);
                }
            }
            Await.until(Duration.ofSeconds(20), "a real client is served again", () -> {
                try (Connection c = p.connect("pgsvc_md5", "md5pass"); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT 7")) {
                    rs.next();
                    return rs.getInt(1) == 7;
                } catch (SQLException e) {
                    return false;
                }
            });
            try (Connection c = p.connect("pgsvc_md5", "md5pass"); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT 1")) {
                assertTrue(rs.next());
                assertEquals(1, rs.getInt(1));
            }
        }
    }

    @Test
    void withTcpDeferAcceptSilentConnectionsNeverTakeASlot() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("max_client_conn", Integer.toString(MAX));
        settings.put("tcp_defer_accept", "1");
        try (PoolerFixture p = PoolerFixture.start(settings)) {
            List<Socket> flood = new ArrayList<>();
            try {
                for (int i = 0; i < MAX; i++) {
                    Socket s = new Socket();
                    s.connect(new InetSocketAddress("127.0.0.1", p.port()), 10_000);
                    flood.add(s);
                }
                // The kernel keeps connections that sent nothing from accept(): a real client is served.
                try (Connection c = p.connect("pgsvc_md5", "md5pass"); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT 1")) {
                    assertTrue(rs.next());
                }
            } finally {
                for (Socket s : flood) {
                    closeQuietly(s);
                }
            }
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // The test's own sockets; nothing to do if one is gone already.
        }
    }
}
