package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * Statement, session and transaction pooling, and when server_reset_query runs: on the client's disconnect in session
 * mode, never in transaction mode unless server_reset_query_always, and not at all when it is empty.
 */
@ExtendWith(PgClusterExtension.class)
class PoolModesTest {
    private static final String APP = "pool-modes-test";
    private static String defaultWorkMem;

    @BeforeAll
    static void serverDefaults() throws SQLException {
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD)) {
            defaultWorkMem = value(c, "SHOW work_mem");
        }
        assertNotEquals("7MB", defaultWorkMem);
    }

    private static PoolerFixture start(String mode, Map<String, String> extra) {
        var settings = PoolerFixture.defaults();
        settings.put("pool_mode", mode);
        settings.put("default_pool_size", "1");
        settings.putAll(extra);
        return PoolerFixture.start(settings);
    }

    private static Connection connect(PoolerFixture pooler) throws SQLException {
        Properties p = new Properties();
        p.setProperty("ApplicationName", APP);
        return pooler.connect("pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, p);
    }

    private static String value(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private static boolean tempTableExists(Connection c) throws SQLException {
        return value(c, "SELECT to_regclass('pg_temp.it_modes_tmp') IS NOT NULL").equals("t");
    }

    /** Leaves session state on the server: a GUC that is not tracked, and a temp table. */
    private static String dirtyTheSession(Connection c) throws SQLException {
        String pid = value(c, "SELECT pg_backend_pid()");
        execute(c, "SET work_mem = '7MB'");
        execute(c, "CREATE TEMP TABLE it_modes_tmp (id int)");
        assertEquals("7MB", value(c, "SHOW work_mem"));
        assertTrue(tempTableExists(c));
        return pid;
    }

    @Test
    void statementModeRunsAutocommitStatementsAndRefusesTransactionBlocks() throws Exception {
        try (PoolerFixture pooler = start("statement", Map.of())) {
            try (Connection c = connect(pooler)) {
                for (int i = 0; i < 5; i++) {
                    assertEquals(Integer.toString(i * 3), value(c, "SELECT " + i + " * 3"));
                }
                assertFatal("08P01", "transaction blocks not allowed in statement pooling mode",
                        () -> execute(c, "BEGIN"));
                assertFalse(c.isValid(5));
            }
            try (Connection c = connect(pooler)) {
                c.setAutoCommit(false);
                assertFatal("08P01", "transaction blocks not allowed in statement pooling mode",
                        () -> value(c, "SELECT 1"));
            }
            // The server left in a transaction is closed, not handed to the next client.
            try (Connection admin = PgCluster.shared().primary().connectAdmin()) {
                Await.until(Duration.ofSeconds(10), "no server is left idle in transaction",
                        () -> value(admin, "SELECT count(*) FROM pg_stat_activity WHERE usename = '"
                                + PgCluster.MD5_USER + "' AND state LIKE 'idle in transaction%'").equals("0"));
            }
            try (Connection c = connect(pooler)) {
                assertEquals("1", value(c, "SELECT 1"));
            }
        }
    }

    @Test
    void sessionModeKeepsOneServerPerClientAndResetsItForTheNext() throws Exception {
        try (PoolerFixture pooler = start("session", Map.of())) {
            String pid;
            try (Connection a = connect(pooler)) {
                pid = dirtyTheSession(a);
                a.setAutoCommit(false);
                assertEquals(pid, value(a, "SELECT pg_backend_pid()"));
                a.commit();
                a.setAutoCommit(true);
                for (int i = 0; i < 5; i++) {
                    assertEquals(pid, value(a, "SELECT pg_backend_pid()"));
                }
                assertEquals("7MB", value(a, "SHOW work_mem"));
            }
            // pool_size 1: the next client waits for the same server, which DISCARD ALL cleaned.
            try (Connection b = connect(pooler)) {
                assertEquals(pid, value(b, "SELECT pg_backend_pid()"));
                assertEquals(defaultWorkMem, value(b, "SHOW work_mem"));
                assertFalse(tempTableExists(b));
            }
        }
    }

    @Test
    void sessionModeAfterTheResetQueryANewClientStillHasItsTrackedParameters() throws Exception {
        try (PoolerFixture pooler = start("session", Map.of())) {
            try (Connection a = connect(pooler)) {
                assertEquals(APP, value(a, "SELECT current_setting('application_name')"));
            }
            // DISCARD ALL reset application_name on the server (and said so with a ParameterStatus); the next
            // client of the same application must get its name set again.
            try (Connection b = connect(pooler)) {
                assertEquals(APP, value(b, "SELECT current_setting('application_name')"));
            }
        }
    }

    @Test
    void sessionModeWithAnEmptyResetQueryHandsTheStateToTheNextClient() throws Exception {
        try (PoolerFixture pooler = start("session", Map.of("server_reset_query", ""))) {
            String pid;
            try (Connection a = connect(pooler)) {
                pid = dirtyTheSession(a);
            }
            // PgBouncer's documented hazard: without a reset query, session state outlives the client.
            try (Connection b = connect(pooler)) {
                assertEquals(pid, value(b, "SELECT pg_backend_pid()"));
                assertEquals("7MB", value(b, "SHOW work_mem"));
                assertTrue(tempTableExists(b));
            }
        }
    }

    @Test
    void transactionModeDoesNotRunTheResetQueryByDefault() throws Exception {
        try (PoolerFixture pooler = start("transaction", Map.of());
             Connection a = connect(pooler);
             Connection b = connect(pooler)) {
            String pid = dirtyTheSession(a);
            assertEquals(pid, value(b, "SELECT pg_backend_pid()"));
            assertEquals("7MB", value(b, "SHOW work_mem"));
            assertTrue(tempTableExists(b));
            execute(b, "DISCARD ALL");
        }
    }

    @Test
    void transactionModeRunsTheResetQueryAfterEveryTransactionWithServerResetQueryAlways() throws Exception {
        try (PoolerFixture pooler = start("transaction", Map.of("server_reset_query_always", "1"));
             Connection a = connect(pooler);
             Connection b = connect(pooler)) {
            String pid = value(a, "SELECT pg_backend_pid()");
            execute(a, "SET work_mem = '7MB'");
            assertEquals(pid, value(b, "SELECT pg_backend_pid()"));
            assertEquals(defaultWorkMem, value(b, "SHOW work_mem"));
            execute(a, "SET work_mem = '7MB'");
            assertEquals(defaultWorkMem, value(a, "SHOW work_mem"));
        }
    }

    @Test
    void transactionModeWithServerResetQueryAlwaysKeepsEachClientsTrackedParameters() throws Exception {
        try (PoolerFixture pooler = start("transaction", Map.of("server_reset_query_always", "1"));
             Connection a = connect(pooler)) {
            // Each transaction ends with DISCARD ALL, which resets application_name on the server.
            for (int i = 0; i < 3; i++) {
                assertEquals(APP, value(a, "SELECT current_setting('application_name')"));
            }
        }
    }
}
