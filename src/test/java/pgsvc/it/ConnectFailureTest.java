package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

import pgsvc.testing.PgClusterExtension;

/**
 * A server connect that fails is cached in PgBouncer's words (server.c: "connect failed"; janitor.c: "connect
 * timeout"), which applications and their retry logic match on: the next client is refused at once with
 * "server login has been failing, cached error: ... (server_login_retry)".
 */
@ExtendWith(PgClusterExtension.class)
class ConnectFailureTest {

    @Test
    void aRefusedConnectIsCachedAsConnectFailed() throws Exception {
        int nothingListens = PoolerFixture.freePort();
        assertEquals("connect failed", cachedError(nothingListens, Map.of()));
    }

    @Test
    void aServerThatNeverAnswersIsCachedAsConnectTimeout() throws Exception {
        // The kernel completes the TCP handshake for a listening socket nobody accepts on: the startup packet is
        // sent and never answered.
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            assertEquals("connect timeout",
                    cachedError(silent.getLocalPort(), Map.of("server_connect_timeout", "0.3")));
        }
    }

    /** The cached reason a client is refused with after a first client's connect to {@code port} failed. */
    private static String cachedError(int port, Map<String, String> extra) throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("query_wait_timeout", "1");
        settings.put("server_login_retry", "60");
        settings.putAll(extra);
        String down = "down = host=127.0.0.1 port=" + port + " dbname=pgsvc\n";
        try (PoolerFixture p = PoolerFixture.start(settings, down)) {
            // The first client's login waits for the pool's first server, which fails, until query_wait_timeout.
            assertThrows(PSQLException.class, () -> p.connect("down", "pgsvc_md5", "md5pass", new Properties()));
            PSQLException refused = assertThrows(PSQLException.class,
                    () -> p.connect("down", "pgsvc_md5", "md5pass", new Properties()));
            ServerErrorMessage m = refused.getServerErrorMessage();
            assertNotNull(m, refused::toString);
            assertEquals("08P01", m.getSQLState());
            String prefix = "server login has been failing, cached error: ";
            String suffix = " (server_login_retry)";
            String text = m.getMessage();
            assertTrue(text.startsWith(prefix) && text.endsWith(suffix), text);
            return text.substring(prefix.length(), text.length() - suffix.length());
        }
    }
}
