package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;

import pgsvc.testing.Await;
import pgsvc.testing.FaultProxy;
import pgsvc.testing.FaultProxy.Direction;
import pgsvc.testing.FaultProxy.Fault;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * Broken server links, with a {@link FaultProxy} between pgsvc and PostgreSQL: a reset during login, during a query
 * and during COPY, a server whose answer never arrives, a server that answers garbage, and backends terminated by
 * an administrator. In each case only the client whose work was on the broken link sees an error (checked in
 * pgjdbc's words), another client's work on another link goes on, the pool recovers by itself, and afterwards SHOW
 * POOLS, pg_stat_activity and the proxy count the same server connections: none leaked. Also a client whose link to
 * pgsvc is reset inside a transaction: the row it locked is soon free for another client.
 *
 * <p>Each test has its own pgsvc and proxy; the role is this class's own, so pg_stat_activity counts only its servers.
 */
@ExtendWith(PgClusterExtension.class)
class FaultsTest {
    private static final String ROLE = "pgsvc_faults";
    private static final String PASSWORD = "faultspass";
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @BeforeAll
    static void setUp() throws Exception {
        TestRoles.create(ROLE, PASSWORD);
        try (Connection c = PgCluster.shared().primary().connect(PgCluster.DATABASE, PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD); Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS it_faults");
            st.execute("CREATE TABLE it_faults (id int primary key, v text)");
            st.execute("INSERT INTO it_faults VALUES (1, 'one')");
            st.execute("DROP TABLE IF EXISTS it_faults_copy");
            st.execute("CREATE TABLE it_faults_copy (n int, t text)");
            st.execute("GRANT ALL ON it_faults, it_faults_copy TO " + ROLE);
        }
    }

    /** pgsvc whose [databases] point at a proxy in front of the primary. */
    private record Rig(FaultProxy proxy, PoolerFixture pooler) implements AutoCloseable {
        Connection connect() throws SQLException {
            return pooler.connect(ROLE, PASSWORD);
        }

        @Override
        public void close() {
            try {
                pooler.close();
            } finally {
                proxy.close();
            }
        }
    }

    private static Rig rig(Map<String, String> extra) {
        // An earlier test's servers must be gone, or pg_stat_activity would count them.
        Await.until(DEADLINE, "no backend of " + ROLE + " is left from an earlier test",
                () -> TestRoles.backends(ROLE) == 0);
        FaultProxy proxy = FaultProxy.start(PgCluster.shared().primary().port());
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("admin_users", PgCluster.SUPERUSER);
        settings.put("default_pool_size", "4");
        settings.putAll(extra);
        try {
            return new Rig(proxy, PoolerFixture.builder(settings).upstreamPort(proxy.port())
                    .userlist(TestRoles.userlistWith(ROLE, PASSWORD)).start());
        } catch (RuntimeException e) {
            proxy.close();
            throw e;
        }
    }

    @Test
    void aServerResetDuringLoginIsRetriedAndTheWaitingClientIsServed() throws Exception {
        try (Rig rig = rig(Map.of("server_login_retry", "0.5"))) {
            // Mid-authentication: PostgreSQL has asked for SCRAM, pgsvc is about to answer.
            FaultProxy.Rule reset = rig.proxy().when(Direction.TO_CLIENT, "SCRAM-SHA-256", Fault.RESET);
            try (Connection c = rig.connect()) {
                assertEquals(1, queryInt(c, "SELECT 1"));
            }
            assertTrue(reset.fired(), "the login was reset");
            assertTrue(rig.proxy().accepted() >= 2, "pgsvc logged in again after the reset");
            assertRecovers(rig);
        }
    }

    @Test
    void aServerResetDuringAQueryFailsOnlyThatClient() throws Exception {
        try (Rig rig = rig(Map.of())) {
            try (Connection a = rig.connect(); Connection b = rig.connect()) {
                // b keeps a server of its own, inside a transaction, on another link.
                b.setAutoCommit(false);
                assertEquals(1, queryInt(b, "SELECT 1"));
                FaultProxy.Rule reset = rig.proxy().when(Direction.TO_SERVER, "fault_reset_query", Fault.RESET);

                SQLException e = assertThrows(SQLException.class, () -> query(a, "SELECT 'fault_reset_query'"));

                assertTrue(reset.fired());
                assertServerCrashed(e);
                assertEquals(2, queryInt(b, "SELECT 2"), "the other client's transaction goes on");
                b.commit();
            }
            assertRecovers(rig);
        }
    }

    @Test
    void aServerResetDuringCopyFailsOnlyThatClientAndCopiesNothing() throws Exception {
        try (Rig rig = rig(Map.of())) {
            Connection a = rig.connect();
            try (Connection b = rig.connect()) {
                b.setAutoCommit(false);
                assertEquals(1, queryInt(b, "SELECT 1"));
                FaultProxy.Rule reset = rig.proxy().when(Direction.TO_SERVER, "fault_reset_copy", Fault.RESET);
                StringBuilder rows = new StringBuilder();
                for (int i = 0; i < 20_000; i++) {
                    rows.append(i).append('\t').append(i == 10_000 ? "fault_reset_copy" : "row " + i).append('\n');
                }
                Reader data = new StringReader(rows.toString());

                Exception e = assertThrows(Exception.class, () -> a.unwrap(PGConnection.class).getCopyAPI()
                        .copyIn("COPY it_faults_copy FROM STDIN", data));

                assertTrue(reset.fired());
                assertTrue(e instanceof SQLException || e instanceof IOException, e.toString());
                // pgsvc's FATAL "server conn crashed?" when pgjdbc reads it, else pgjdbc's own words.
                assertTrue(messages(e).contains("server conn crashed?")
                                || messages(e).contains("Database connection failed when"),
                        "pgjdbc reports the broken connection: " + messages(e));
                assertEquals(2, queryInt(b, "SELECT 2"), "the other client's transaction goes on");
                b.commit();
            } finally {
                closeBroken(a);
            }
            try (Connection c = PgCluster.shared().primary().connect(PgCluster.DATABASE, PgCluster.SUPERUSER,
                    PgCluster.SUPERUSER_PASSWORD)) {
                assertEquals(0, queryInt(c, "SELECT count(*) FROM it_faults_copy"), "the broken COPY left no row");
            }
            assertRecovers(rig);
        }
    }

    @Test
    void aServerWhoseAnswerNeverArrivesIsEndedByQueryTimeout() throws Exception {
        try (Rig rig = rig(Map.of("query_timeout", "1"))) {
            FaultProxy.Rule stall = rig.proxy().when(Direction.TO_CLIENT, "fault_stall_answer", Fault.STALL);
            try (Connection a = rig.connect(); Connection b = rig.connect()) {
                CompletableFuture<String> stalled = CompletableFuture.supplyAsync(() -> {
                    try {
                        return query(a, "SELECT 'fault_stall_answer'");
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                });
                Await.until(DEADLINE, "the answer is held by the proxy", stall::fired);
                assertEquals(3, queryInt(b, "SELECT 3"), "another client is served meanwhile");

                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> stalled.get(DEADLINE.toSeconds(), TimeUnit.SECONDS));

                SQLException cause = (SQLException) e.getCause().getCause();
                assertEquals("08P01", cause.getSQLState(), messages(cause));
                assertTrue(cause.getMessage().contains("query timeout"), messages(cause));
                assertEquals(4, queryInt(b, "SELECT 4"));
            }
            rig.proxy().resumeAll();
            assertRecovers(rig);
        }
    }

    @Test
    void aServerAnsweringGarbageFailsOnlyThatClient() throws Exception {
        try (Rig rig = rig(Map.of())) {
            try (Connection a = rig.connect(); Connection b = rig.connect()) {
                b.setAutoCommit(false);
                assertEquals(1, queryInt(b, "SELECT 1"));
                // A message type and a length no message can have, then noise.
                byte[] garbage = {'D', (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xfe, 'n', 'o', 'i', 's', 'e'};
                FaultProxy.Rule rule = rig.proxy().whenGarbage(Direction.TO_CLIENT, "fault_garbage_answer", garbage);

                SQLException e = assertThrows(SQLException.class,
                        () -> query(a, "SELECT 'fault_garbage_answer'"));

                assertTrue(rule.fired());
                assertServerCrashed(e);
                assertEquals(2, queryInt(b, "SELECT 2"), "the other client's transaction goes on");
                b.commit();
            }
            assertRecovers(rig);
        }
    }

    @Test
    void terminatedBackendsFailOnlyTheClientInsideATransaction() throws Exception {
        try (Rig rig = rig(Map.of())) {
            try (Connection a = rig.connect(); Connection b = rig.connect()) {
                a.setAutoCommit(false);
                queryInt(a, "SELECT pg_backend_pid()");
                // b's server goes back to the pool after each statement: b has no work on any link now.
                queryInt(b, "SELECT pg_backend_pid()");
                try (Connection admin = PgCluster.shared().primary().connectAdmin();
                     Statement st = admin.createStatement()) {
                    st.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + ROLE
                            + "'");
                }
                Await.until(DEADLINE, "the terminated backends are gone", () -> TestRoles.backends(ROLE) == 0);
                Await.until(DEADLINE, "pgsvc has dropped the dead servers", () -> poolServers(rig) == 0);

                SQLException e = assertThrows(SQLException.class, () -> queryInt(a, "SELECT 1"));
                assertTrue(e.getMessage().contains("terminating connection due to administrator command"),
                        messages(e));
                assertEquals(5, queryInt(b, "SELECT 5"), "a client without a transaction is served by a new server");
            }
            assertRecovers(rig);
        }
    }

    @Test
    void aClientResetInsideATransactionFreesItsRowLock() throws Exception {
        try (Rig rig = rig(Map.of()); FaultProxy clientLink = FaultProxy.start(rig.pooler().port())) {
            Properties p = new Properties();
            p.setProperty("user", ROLE);
            p.setProperty("password", PASSWORD);
            p.setProperty("prepareThreshold", "0");
            Connection holder = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + clientLink.port() + "/"
                    + PgCluster.DATABASE, p);
            try {
                holder.setAutoCommit(false);
                try (Statement st = holder.createStatement();
                     ResultSet rs = st.executeQuery("SELECT v FROM it_faults WHERE id = 1 FOR UPDATE")) {
                    assertTrue(rs.next());
                }

                clientLink.resetAll();

                try (Connection other = rig.connect()) {
                    Await.until(DEADLINE, "the vanished client's row lock is free", () -> tryLock(other));
                }
            } finally {
                closeBroken(holder);
            }
            assertRecovers(rig);
        }
    }

    /** Closes a connection whose link was broken on purpose: pgjdbc fails to say Terminate, as expected. */
    private static void closeBroken(Connection c) {
        try {
            c.close();
        } catch (SQLException expected) {
            // "Unable to close connection properly": the socket is gone
        }
    }

    /** Takes and releases the row lock without waiting; false while someone else holds it. */
    private static boolean tryLock(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT v FROM it_faults WHERE id = 1 FOR UPDATE NOWAIT")) {
            return rs.next();
        } catch (SQLException e) {
            if ("55P03".equals(e.getSQLState())) {
                return false;
            }
            throw e;
        } finally {
            c.rollback();
        }
    }

    private static void assertServerCrashed(SQLException e) {
        assertEquals("08P01", e.getSQLState(), messages(e));
        assertTrue(e.getMessage().contains("server conn crashed?"), messages(e));
    }

    /** A later client is served, and pgsvc, PostgreSQL and the proxy agree on the server connections left. */
    private static void assertRecovers(Rig rig) throws Exception {
        try (Connection c = rig.connect()) {
            assertEquals(42, queryInt(c, "SELECT 42"));
        }
        Await.until(DEADLINE, "SHOW POOLS, pg_stat_activity and the proxy count the same servers", () -> {
            Map<String, Integer> pool = showPools(rig);
            int servers = ConsoleQueries.servers(pool);
            int clients = pool.get("cl_active") + pool.get("cl_waiting");
            return clients == 0 && servers >= 1 && servers == TestRoles.backends(ROLE)
                    && servers == rig.proxy().open();
        });
    }

    private static int poolServers(Rig rig) throws SQLException {
        return ConsoleQueries.servers(showPools(rig));
    }

    /** SHOW POOLS's counts for this class's pools, summed over their endpoints (all zero when none is listed). */
    private static Map<String, Integer> showPools(Rig rig) throws SQLException {
        return ConsoleQueries.poolCounts(rig.pooler(), d -> d.startsWith(PgCluster.DATABASE), ROLE);
    }

    private static int queryInt(Connection c, String sql) throws SQLException {
        return Integer.parseInt(query(c, sql));
    }

    /** The first column of the first row. */
    private static String query(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getString(1);
        }
    }

    /** The messages of an exception and its causes, for assertions and failure reports. */
    private static String messages(Throwable e) {
        StringBuilder s = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            s.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage()).append(" / ");
        }
        return s.toString();
    }
}
