package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;

import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * PgBouncer's varcache: clients sharing one server in transaction mode each keep their own TimeZone, DateStyle and
 * application_name, whether they came with the startup packet or a later SET, because the pooler replays them with
 * SET whenever a client lands on a server that differs.
 */
@ExtendWith(PgClusterExtension.class)
class TrackedParamsTest {
    private static PoolerFixture pooler;
    private static String serverTimeZone;

    @BeforeAll
    static void start() throws SQLException {
        var settings = PoolerFixture.defaults();
        settings.put("pool_mode", "transaction");
        settings.put("default_pool_size", "1");
        pooler = PoolerFixture.start(settings);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD)) {
            serverTimeZone = row(c, "SHOW TimeZone").get(0);
        }
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    private static Connection connect(String applicationName, String options) throws SQLException {
        Properties p = new Properties();
        p.setProperty("ApplicationName", applicationName);
        if (options != null) {
            p.setProperty("options", options);
        }
        return pooler.connect("pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, p);
    }

    private static List<String> row(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next());
            String[] values = new String[rs.getMetaData().getColumnCount()];
            for (int i = 0; i < values.length; i++) {
                values[i] = rs.getString(i + 1);
            }
            return List.of(values);
        }
    }

    /** TimeZone, application_name, DateStyle and the backend pid, in one transaction. */
    private static List<String> seen(Connection c) throws SQLException {
        return row(c, "SELECT current_setting('TimeZone'), current_setting('application_name'), "
                + "current_setting('DateStyle'), pg_backend_pid()::text");
    }

    /**
     * Two clients with different time zones share one server, so each link starts with the pooler's SET; each
     * client writes its next query before reading the answer to the one before. What the client sends while the
     * SET runs must reach the server after what it sent before, and each answer must be the client's own.
     */
    @Test
    void queriesPipelinedWhileThePoolerSetsParametersKeepTheirOrder() throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (String zone : List.of("Asia/Tokyo", "America/New_York")) {
                runs.add(threads.submit(() -> {
                    try (WireClient w = WireClient.open(pooler.port())) {
                        w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of("TimeZone", zone));
                        for (int i = 0; i < 200; i++) {
                            w.sendQuery("SELECT " + i + ", current_setting('TimeZone')");
                            w.sendQuery("SELECT " + (i + 1000) + ", current_setting('TimeZone')");
                            assertEquals(List.of(Integer.toString(i)), w.readResult(true).orThrow().values());
                            assertEquals(List.of(Integer.toString(i + 1000)),
                                    w.readResult(true).orThrow().values());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> run : runs) {
                run.get(120, TimeUnit.SECONDS);
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void twoClientsOnOneServerEachSeeTheirOwnStartupValues() throws Exception {
        try (Connection a = connect("tracked-a", "-c TimeZone=Asia/Tokyo -c DateStyle=ISO,DMY");
             Connection b = connect("tracked-b", "-c TimeZone=America/New_York -c DateStyle=ISO,YMD")) {
            String pid = null;
            for (int i = 0; i < 5; i++) {
                List<String> fromA = seen(a);
                List<String> fromB = seen(b);
                assertEquals(List.of("Asia/Tokyo", "tracked-a", "ISO, DMY"), fromA.subList(0, 3), "round " + i);
                assertEquals(List.of("America/New_York", "tracked-b", "ISO, YMD"), fromB.subList(0, 3), "round " + i);
                // default_pool_size=1: both really are on the same backend, so the pooler switched the values.
                assertEquals(fromA.get(3), fromB.get(3));
                if (pid != null) {
                    assertEquals(pid, fromA.get(3));
                }
                pid = fromA.get(3);
            }
        }
    }

    @Test
    void aSetOutsideATransactionFollowsItsClientFromServerToServer() throws Exception {
        try (Connection a = connect("tracked-set-a", null);
             Connection b = connect("tracked-set-b", "-c TimeZone=UTC")) {
            try (Statement st = a.createStatement()) {
                st.execute("SET TimeZone = 'Asia/Tokyo'");
                st.execute("SET application_name = 'renamed-a'");
            }
            for (int i = 0; i < 5; i++) {
                assertEquals(List.of("UTC", "tracked-set-b"), seen(b).subList(0, 2), "round " + i);
                assertEquals(List.of("Asia/Tokyo", "renamed-a"), seen(a).subList(0, 2), "round " + i);
            }
            // And back: a RESET is reported by the server too, so the client returns to the server's default.
            try (Statement st = a.createStatement()) {
                st.execute("RESET TimeZone");
            }
            assertEquals("UTC", seen(b).get(0));
            assertEquals(serverTimeZone, seen(a).get(0));
        }
    }

    @Test
    void theWelcomeCarriesTheServersParameterStatusAndTheClientsOwnValues() throws Exception {
        String serverVersion;
        try (Connection direct = PgCluster.shared().primary().connect("pgsvc", PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD)) {
            serverVersion = direct.unwrap(PGConnection.class).getParameterStatus("server_version");
        }
        assertTrue(serverVersion.startsWith("15"), serverVersion);
        try (Connection c = connect("tracked-welcome", "-c TimeZone=Asia/Tokyo")) {
            PGConnection pg = c.unwrap(PGConnection.class);
            assertEquals(serverVersion, pg.getParameterStatus("server_version"));
            assertEquals(serverVersion, c.getMetaData().getDatabaseProductVersion());
            assertEquals("UTF8", pg.getParameterStatus("server_encoding"));
            assertEquals("on", pg.getParameterStatus("integer_datetimes"));
            assertEquals("off", pg.getParameterStatus("is_superuser"));
            assertEquals("tracked-welcome", pg.getParameterStatus("application_name"));
            assertEquals("Asia/Tokyo", pg.getParameterStatus("TimeZone"));
            assertNotEquals("Asia/Tokyo", serverTimeZone);
        }
    }
}
