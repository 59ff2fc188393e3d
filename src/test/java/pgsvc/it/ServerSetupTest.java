package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.time.Duration;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * What the pooler does to a server connection besides forwarding: connect_query after login, server_check_query
 * before reusing a server that sat idle, application_name_add_host, and disable_pqexec refusing simple queries.
 */
@ExtendWith(PgClusterExtension.class)
class ServerSetupTest {
    private static final String ROLE = "pgsvc_setup";

    @BeforeAll
    static void setUp() throws SQLException {
        TestRoles.create(ROLE, "spass");
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP SEQUENCE IF EXISTS setup_checks");
            st.execute("CREATE SEQUENCE setup_checks");
            st.execute("GRANT ALL ON SEQUENCE setup_checks TO " + ROLE);
        }
    }

    private static PoolerFixture start(Map<String, String> extra, String databases) {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.putAll(extra);
        return PoolerFixture.builder(settings).databases(databases)
                .userlist(TestRoles.userlistWith(ROLE, "spass")).start();
    }

    private static String one(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static long checks() throws SQLException {
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres")) {
            return Long.parseLong(one(c, "SELECT last_value FROM setup_checks"));
        }
    }

    @Test
    void connectQueryRunsOnceOnEachNewServer() throws Exception {
        int port = PgCluster.shared().primary().port();
        try (PoolerFixture p = start(Map.of(), "cq = host=127.0.0.1 port=" + port + " dbname=pgsvc "
                + "connect_query='SET work_mem = ''7MB'''\n"
                + "cqbad = host=127.0.0.1 port=" + port + " dbname=pgsvc connect_query='SELECT no_such_function()'\n");
             Connection c = p.connect("cq", ROLE, "spass", new Properties());
             Connection bad = p.connect("cqbad", ROLE, "spass", new Properties())) {
            assertEquals("7MB", one(c, "SHOW work_mem"));
            // As in PgBouncer, a failing connect_query is logged and the server used all the same.
            assertEquals("1", one(bad, "SELECT 1"));
        }
    }

    @Test
    void aServerIdlePastServerCheckDelayRunsTheCheckQueryBeforeReuse() throws Exception {
        try (PoolerFixture p = start(Map.of("server_check_delay", "0",
                "server_check_query", "SELECT nextval('setup_checks')", "default_pool_size", "1"), "");
             Connection c = p.connect(ROLE, "spass")) {
            one(c, "SELECT 1");
            long before = checks();
            for (int i = 0; i < 5; i++) {
                one(c, "SELECT 1");
            }
            assertEquals(before + 5, checks(), "one check before each reuse of the idle server");
        }
    }

    @Test
    void withAnEmptyServerCheckQueryNoCheckRuns() throws Exception {
        try (PoolerFixture p = start(Map.of("server_check_delay", "0", "server_check_query", "",
                "default_pool_size", "1"), "");
             Connection c = p.connect(ROLE, "spass")) {
            one(c, "SELECT nextval('setup_checks')");
            long before = checks();
            for (int i = 0; i < 5; i++) {
                one(c, "SELECT 1");
            }
            assertEquals(before, checks());
        }
    }

    @Test
    void aFailingCheckClosesTheServerAndTheClientGetsAFreshOne() throws Exception {
        try (PoolerFixture p = start(Map.of("server_check_delay", "0", "server_check_query", "SELECT 1/0",
                "default_pool_size", "1"), "");
             Connection c = p.connect(ROLE, "spass")) {
            String first = one(c, "SELECT pg_backend_pid()");
            String second = one(c, "SELECT pg_backend_pid()");
            assertNotEquals(first, second, "the server that failed its check was replaced");
        }
    }

    @Test
    void anUnusedAutomaticDatabaseIsForgottenAfterAutodbIdleTimeout() throws Exception {
        try (PoolerFixture p = start(Map.of("autodb_idle_timeout", "0.5", "server_idle_timeout", "0.2",
                "admin_users", "postgres"), "")) {
            try (Connection c = p.connect("postgres", ROLE, "spass", new Properties())) {
                assertEquals("postgres", one(c, "SELECT current_database()"));
            }
            try (Connection c = p.connect("pgsvc", ROLE, "spass", new Properties())) {
                assertEquals("pgsvc", one(c, "SELECT current_database()"));
            }
            assertTrue(ConsoleQueries.poolColumn(p, "postgres", ROLE, "cl_active") >= 0, "the autodb pool is listed");
            Await.until(Duration.ofSeconds(20), "the autodb pool is dropped",
                    () -> ConsoleQueries.poolColumn(p, "postgres", ROLE, "cl_active") == -1);
            assertTrue(ConsoleQueries.poolColumn(p, "pgsvc", ROLE, "cl_active") >= 0,
                    "a pool of a listed database stays");
            try (Connection c = p.connect("postgres", ROLE, "spass", new Properties())) {
                assertEquals("postgres", one(c, "SELECT current_database()"), "and comes back on demand");
            }
        }
    }

    @Test
    void applicationNameAddHostAppendsTheClientAddress() throws Exception {
        try (PoolerFixture p = start(Map.of("application_name_add_host", "1"), "")) {
            Properties props = new Properties();
            props.setProperty("ApplicationName", "billing");
            try (Connection c = p.connect("pgsvc", ROLE, "spass", props)) {
                String name = one(c, "SELECT current_setting('application_name')");
                assertTrue(name.matches("billing - 127\\.0\\.0\\.1:\\d+"), name);
            }
        }
    }

    @Test
    void disablePqexecRefusesSimpleQueries() throws Exception {
        try (PoolerFixture p = start(Map.of("disable_pqexec", "1"), "")) {
            Properties extended = new Properties();
            extended.setProperty("preferQueryMode", "extended");
            try (Connection c = p.connect("pgsvc", ROLE, "spass", extended)) {
                assertEquals("1", one(c, "SELECT 1"));
            }
            try (WireClient w = WireClient.connect(p.port(), ROLE, "spass")) {
                w.sendQuery("SELECT 1; SELECT 2");
                WireClient.Message m = w.read();
                assertEquals('E', m.type());
                assertEquals("PQexec disallowed", m.fields().get('M'));
                assertEquals("08P01", m.fields().get('C'));
                assertEquals(-1, w.readByte());
            }
        }
    }
}
