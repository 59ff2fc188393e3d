package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/** The first packets of a connection and what the pooler refuses before a client gets to run a query. */
@ExtendWith(PgClusterExtension.class)
class LoginTest {
    private static PoolerFixture pooler;

    @BeforeAll
    static void start() {
        pooler = PoolerFixture.start(PoolerFixture.defaults());
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    private static Connection md5(PoolerFixture p, Properties extra) throws SQLException {
        return p.connect("pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, extra);
    }

    private static String show(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    private static Properties props(String key, String value) {
        Properties p = new Properties();
        p.setProperty(key, value);
        return p;
    }

    @Test
    void anUnknownDatabaseIsRefusedAfterAuthenticationWhenThereIsNoWildcard() {
        try (PoolerFixture noWildcard = PoolerFixture.builder(PoolerFixture.defaults()).withoutWildcard().start()) {
            assertFatal("08P01", "no such database: x",
                    () -> noWildcard.connect("x", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, new Properties())
                            .close());
            // Authentication comes first, so a stranger learns nothing about which databases exist.
            assertFatal("08P01", "password authentication failed",
                    () -> noWildcard.connect("x", PgCluster.MD5_USER, "not-the-password", new Properties()).close());
            assertFatal("08P01", "password authentication failed",
                    () -> noWildcard.connect("x", "no_such_user", "not-the-password", new Properties()).close());
        }
    }

    @Test
    void maxClientConnRefusesTheClientOverTheLimitUntilOneLeaves() throws Exception {
        var settings = PoolerFixture.defaults();
        settings.put("max_client_conn", "2");
        try (PoolerFixture small = PoolerFixture.start(settings)) {
            Connection first = md5(small, new Properties());
            try (Connection second = md5(small, new Properties())) {
                assertEquals("1", show(second, "SELECT 1"));
                assertFatal("08P01", "no more connections allowed (max_client_conn)",
                        () -> md5(small, new Properties()).close());
                first.close();
                // The pooler learns of the close asynchronously.
                Await.until(Duration.ofSeconds(10), "a third client fits again", () -> {
                    try (Connection third = md5(small, new Properties())) {
                        return "1".equals(show(third, "SELECT 1"));
                    }
                });
            } finally {
                first.close();
            }
        }
    }

    @Test
    void startupParametersOutsideIgnoreStartupParametersAreRefused() throws Exception {
        var settings = PoolerFixture.defaults();
        settings.put("ignore_startup_parameters", "");
        try (PoolerFixture strict = PoolerFixture.start(settings)) {
            // pgjdbc always sends extra_float_digits.
            assertFatal("08P01", "unsupported startup parameter: extra_float_digits",
                    () -> md5(strict, new Properties()).close());
        }
        try (Connection c = md5(pooler, new Properties())) {
            assertEquals("1", show(c, "SELECT 1"));
        }
    }

    @Test
    void optionsMaySetTrackedParameters() throws Exception {
        // pgjdbc insists on a DateStyle starting with ISO; the day-month order still shows the value arrived.
        try (Connection c = md5(pooler, props("options", "-c DateStyle=ISO,DMY"))) {
            assertEquals("ISO, DMY", show(c, "SHOW DateStyle"));
        }
        try (WireClient w = WireClient.open(pooler.port())) {
            List<WireClient.Message> login = w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    Map.of("options", "-c DateStyle=German"));
            assertEquals('Z', login.get(login.size() - 1).type(), () -> "login ended with " + login);
            assertEquals(List.of("German, DMY"), w.query("SHOW DateStyle").orThrow().values());
        }
    }

    @Test
    void optionsMayNotSetUntrackedParameters() {
        assertFatal("08P01", "unsupported startup parameter in options: work_mem",
                () -> md5(pooler, props("options", "-c work_mem=1MB")).close());
    }

    @Test
    void aProtocol2StartupIsRefused() throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            // v2 StartupPacket: length 296, version 2.0, then database[64] user[32] options[64] unused[64] tty[64].
            ByteBuffer v2 = ByteBuffer.allocate(296).putInt(296).putInt(2 << 16);
            v2.put("pgsvc".getBytes(StandardCharsets.US_ASCII));
            v2.position(8 + 64).put(PgCluster.MD5_USER.getBytes(StandardCharsets.US_ASCII));
            w.sendRaw(v2.array());
            assertFatal("08P01", "old V2 protocol not supported", w.read());
            assertArrayEquals(new byte[0], w.readToEof());
        }
    }

    @Test
    void anSslRequestIsAnsweredNAndTheLoginContinuesInPlaintext() throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            w.sendSslRequest();
            assertEquals('N', w.readByte());
            List<WireClient.Message> login = w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of());
            assertEquals('Z', login.get(login.size() - 1).type(), () -> "login ended with " + login);
            assertEquals(List.of(PgCluster.MD5_USER), w.query("SELECT current_user").orThrow().values());
        }
        try (Connection c = md5(pooler, props("sslmode", "prefer"))) {
            assertEquals(PgCluster.MD5_USER, show(c, "SELECT current_user"));
        }
    }

    @Test
    void garbageGetsAProtocolViolationAndTheConnectionIsClosed() throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            w.sendRaw("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            WireClient.Message m = w.read();
            assertEquals('E', m.type());
            assertEquals("08P01", m.fields().get('C'), () -> m.fields().toString());
            assertEquals("FATAL", m.fields().get('S'), () -> m.fields().toString());
            assertTrue(m.fields().get('M').startsWith("bad packet header"), () -> m.fields().toString());
            assertArrayEquals(new byte[0], w.readToEof());
        }
    }

    @Test
    void aCancelRequestForAnUnknownKeyIsDroppedSilently() throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            w.sendCancelRequest(0x1234567, 0x89abcde);
            assertArrayEquals(new byte[0], w.readToEof());
        }
        try (Connection c = md5(pooler, new Properties())) {
            assertEquals("1", show(c, "SELECT 1"));
        }
    }

    @Test
    void aFailingServerLoginReachesTheClientThenIsCachedForServerLoginRetry() {
        var settings = PoolerFixture.defaults();
        settings.put("server_login_retry", "60");
        String databases = "broken = host=127.0.0.1 port=" + PgCluster.shared().primary().port()
                + " dbname=does_not_exist\n";
        try (PoolerFixture p = PoolerFixture.start(settings, databases)) {
            assertFatal("3D000", "database \"does_not_exist\" does not exist",
                    () -> p.connect("broken", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, new Properties()).close());
            assertFatal("08P01", "server login has been failing, cached error: database \"does_not_exist\" does not "
                            + "exist (server_login_retry)",
                    () -> p.connect("broken", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, new Properties()).close());
        }
    }
}
