package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;

/**
 * PostgreSQL restarted (fast shutdown, then start) behind pgsvc, on a cluster of this class's own so that no other
 * test class loses its servers. Under load in transaction mode: only the transactions that were on a server when
 * PostgreSQL stopped fail, at most one per server, with PostgreSQL's own 57P01 forwarded and PgBouncer's "server
 * conn crashed?" (see {@link #classify}); a transaction begun while PostgreSQL is down and the last server login
 * failed gets PgBouncer 1.24+'s immediate server_login_retry error; clients queued for a server wait through the
 * restart and are served by the restarted server; the pool recovers by itself (no RELOAD, no RECONNECT), leaks no
 * server connection, and loses no commit a client was told of. (A 57P01 that arrives in the same read as the
 * ReadyForQuery ending a client's transaction once reached that client's next transaction on another server, which
 * ran but was reported failed; the server now stays with the client, as in PgBouncer.)
 *
 * <p>While PostgreSQL is down, a client queued for a server stays queued until PostgreSQL is back or its
 * query_wait_timeout ends it; a client that asks for a server meanwhile is told at once, for server_login_retry,
 * why it cannot have one (the cached connect error); a client that logs in meanwhile is welcomed from the pool's
 * cached parameters and told the same at its first query. All as PgBouncer 1.24+ (client.c/objects.c:
 * {@code find_server} calls {@code check_fast_fail}; server.c: {@code kill_pool_logins} spares 57P03).
 */
class RestartUnderLoadTest {
    private static final String ROLE = "pgsvc_restart";
    private static final String PASSWORD = "restartpass";
    private static final int POOL_SIZE = 5;
    private static final int CLIENTS = 20;
    /** Transactions each client commits before the restart, and again after the recovery. */
    private static final int ROUNDS = 3;
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    /** PostgreSQL's FATAL to every session at a fast shutdown, forwarded by pgsvc as PgBouncer forwards it. */
    private static final String ADMIN_SHUTDOWN = "terminating connection due to administrator command";
    /** What pgsvc (as PgBouncer) sends after the server's error when the server's socket closes under a client. */
    private static final String SERVER_CRASHED = "server conn crashed?";
    /** What pgsvc (as PgBouncer) sends when the server answers the pooler's SET of tracked parameters with an error. */
    private static final String SET_FAILED = "invalid server parameter";
    /** PgBouncer 1.24+'s fast-fail: the cached reason is the last failed connect or login to PostgreSQL. */
    private static final Pattern LOGIN_FAILING =
            Pattern.compile("server login has been failing, cached error: (.+) \\(server_login_retry\\)");
    /** The reasons a login fails while PostgreSQL restarts: its 57P03 texts, or the refused TCP connect. */
    private static final Pattern RESTART_LOGIN_ERROR = Pattern.compile("the database system is shutting down"
            + "|the database system is starting up|the database system is not yet accepting connections"
            + "|connect failed");

    private static PgCluster cluster;

    @BeforeAll
    static void startCluster() throws SQLException {
        cluster = PgCluster.startNew();
        try (Connection c = cluster.primary().connectAdmin(); Statement st = c.createStatement()) {
            st.execute("CREATE ROLE " + ROLE + " LOGIN PASSWORD '" + PASSWORD + "'");
            st.execute("GRANT ALL ON DATABASE " + PgCluster.DATABASE + " TO " + ROLE);
        }
        try (Connection c = superuser(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE it_restart_counter (id int PRIMARY KEY, n bigint NOT NULL)");
            st.execute("INSERT INTO it_restart_counter VALUES (1, 0)");
            st.execute("CREATE TABLE it_restart_log (client int, seq bigint, PRIMARY KEY (client, seq))");
            st.execute("GRANT ALL ON it_restart_counter, it_restart_log TO " + ROLE);
        }
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A test that failed half-way must not leave the next one without PostgreSQL. */
    @AfterEach
    void postgresRunsAgain() {
        if (cluster != null && !cluster.primary().isRunning()) {
            cluster.primary().start();
        }
    }

    @Test
    void underLoadOnlyTransactionsInFlightFailAndThePoolRecoversByItself() throws Exception {
        awaitNoBackends();
        try (Connection c = superuser(); Statement st = c.createStatement()) {
            st.execute("TRUNCATE it_restart_log");
            st.execute("UPDATE it_restart_counter SET n = 0");
        }
        Map<String, String> settings = settings();
        settings.put("server_login_retry", "0.5");
        settings.put("query_wait_timeout", "120");
        try (PoolerFixture pgsvc = pgsvc(settings)) {
            Load load = new Load(pgsvc, postmasterStart());
            ExecutorService threads = Executors.newFixedThreadPool(CLIENTS);
            List<Future<ClientLog>> clients = new ArrayList<>();
            try {
                for (int i = 0; i < CLIENTS; i++) {
                    int client = i;
                    clients.add(threads.submit(() -> load.run(client)));
                }
                Await.until(DEADLINE, "every client has committed " + ROUNDS + " transactions",
                        () -> load.everyClientCommitted(load.committed, ROUNDS));
                Await.until(DEADLINE, "clients queue for the pool's " + POOL_SIZE + " servers",
                        () -> showPools(pgsvc).get("cl_waiting") > 0);

                load.phase = Phase.RESTART;
                cluster.primary().stop();
                cluster.primary().start();

                // Without RELOAD or RECONNECT: the pool's own login retry brings the queued clients their servers.
                try {
                    Await.until(DEADLINE, "a transaction queued across the restart is committed by the restarted "
                            + "server", () -> load.queuedAcrossRestart.get() > 0);
                } catch (IllegalStateException e) {
                    throw new AssertionError(e.getMessage() + "\nfailures so far: " + load.failed + "\n"
                            + snapshot(pgsvc), e);
                }
                load.phase = Phase.RECOVERED;
                load.resume.countDown();
                Await.until(DEADLINE, "every client commits " + ROUNDS + " transactions after the restart",
                        () -> load.everyClientCommitted(load.committedAfterRecovery, ROUNDS));
            } finally {
                load.stopping = true;
                load.resume.countDown();
                threads.shutdown();
            }
            List<ClientLog> logs = new ArrayList<>();
            for (Future<ClientLog> f : clients) {
                // Every client finishes its loop: none hangs on a server that went away.
                logs.add(f.get(DEADLINE.toSeconds(), TimeUnit.SECONDS));
            }

            Set<String> succeeded = new HashSet<>();
            Set<String> lostInFlight = new HashSet<>();
            Set<String> refused = new HashSet<>();
            for (ClientLog log : logs) {
                succeeded.addAll(log.succeeded);
                for (Failure f : log.failures) {
                    assertEquals(Phase.RESTART, f.failedIn, () -> "an error outside the restart: " + f);
                    assertFalse(f.began == Phase.RECOVERED,
                            () -> "a transaction begun after the recovery failed: " + f);
                    switch (classify(f)) {
                        case IN_FLIGHT -> lostInFlight.add(f.id());
                        case LOGIN_FAILING -> refused.add(f.id());
                        default -> fail("an error that a restart should not give: " + f);
                    }
                }
            }
            assertTrue(lostInFlight.size() >= 1, () -> "the restart hit transactions on a server: " + failures(logs));
            // Only a client on one of the pool's servers can lose its transaction: no failure storm.
            assertTrue(lostInFlight.size() <= POOL_SIZE, () -> lostInFlight.size() + " transactions lost in flight "
                    + "with " + POOL_SIZE + " servers: " + failures(logs));

            try (Connection c = superuser(); Statement st = c.createStatement()) {
                Set<String> logged = new HashSet<>();
                try (ResultSet rs = st.executeQuery("SELECT client, seq FROM it_restart_log")) {
                    while (rs.next()) {
                        logged.add(rs.getInt(1) + ":" + rs.getLong(2));
                    }
                }
                try (ResultSet rs = st.executeQuery("SELECT n FROM it_restart_counter WHERE id = 1")) {
                    assertTrue(rs.next());
                    assertEquals(logged.size(), rs.getLong(1), "the counter counts the committed transactions");
                }
                Set<String> lost = new HashSet<>(succeeded);
                lost.removeAll(logged);
                assertEquals(Set.of(), lost, "commits reported to clients are missing");
                Set<String> unreported = new HashSet<>(logged);
                unreported.removeAll(succeeded);
                // A COMMIT whose answer was cut off may have happened; nothing else may appear.
                unreported.removeAll(lostInFlight);
                assertEquals(Set.of(), unreported, "committed transactions no client ran to the end");
                refused.retainAll(logged);
                assertEquals(Set.of(), refused, "a transaction refused without a server left a row");
            }
            assertPoolAgrees(pgsvc);
        }
    }

    @Test
    void whileLoginsFailANewTransactionFailsAtOnceAndAQueuedOneEndsAtQueryWaitTimeout() throws Exception {
        awaitNoBackends();
        Map<String, String> settings = settings();
        // Long enough that no retry comes while the test looks; the retry itself is the other tests' matter.
        settings.put("server_login_retry", "60");
        settings.put("query_wait_timeout", "3");
        try (PoolerFixture pgsvc = pgsvc(settings); Connection queued = client(pgsvc);
             Connection idle = client(pgsvc)) {
            assertEquals("1", query(queued, "SELECT 1"));
            assertEquals("1", query(idle, "SELECT 1"));

            CompletableFuture<String> waiting = queueWhilePostgresIsDown(pgsvc, queued, "SELECT 2");

            String refusal = assertLoginFailing(assertThrows(PSQLException.class, () -> query(idle, "SELECT 3")));
            assertEquals("connect failed", refusal, "a refused connect, cached in PgBouncer's words");
            // A client logging in now needs no server (the pool's parameters are cached); its query is refused too.
            try (Connection late = client(pgsvc)) {
                assertEquals(refusal, assertLoginFailing(assertThrows(PSQLException.class,
                        () -> query(late, "SELECT 4"))));
            }

            String ended = waiting.get(DEADLINE.toSeconds(), TimeUnit.SECONDS);
            assertEquals("08P01 FATAL query_wait_timeout", ended, "the queued client ends at query_wait_timeout");
            Map<String, Integer> pools = showPools(pgsvc);
            assertEquals(0, pools.get("cl_waiting"), pools::toString);
            assertEquals(0, poolServers(pgsvc), pools::toString);
        }
    }

    @Test
    void aClientQueuedWhilePostgresIsDownIsServedWhenItIsBack() throws Exception {
        awaitNoBackends();
        Map<String, String> settings = settings();
        settings.put("server_login_retry", "0.2");
        settings.put("query_wait_timeout", "120");
        try (PoolerFixture pgsvc = pgsvc(settings); Connection c = client(pgsvc)) {
            assertEquals("1", query(c, "SELECT 1"));

            CompletableFuture<String> waiting = queueWhilePostgresIsDown(pgsvc, c, "SELECT 2");
            assertFalse(waiting.isDone(), () -> "the queued client was failed while PostgreSQL was down: "
                    + waiting.join());

            cluster.primary().start();

            assertEquals("2", waiting.get(DEADLINE.toSeconds(), TimeUnit.SECONDS),
                    "the queued query runs once PostgreSQL is back");
            assertEquals("3", query(c, "SELECT 3"), "the same connection goes on");
        }
    }

    // ---- the load ------------------------------------------------------------------------------------------------

    private enum Phase { LOAD, RESTART, RECOVERED }

    private enum Kind { IN_FLIGHT, LOGIN_FAILING, OTHER }

    /** A transaction that failed: when it began and failed, and every error pgjdbc chained for it. */
    private record Failure(int client, long seq, Phase began, Phase failedIn, String sqlState, String severity,
            String message, String chain) {
        String id() {
            return client + ":" + seq;
        }
    }

    /** One client's transactions: the ones it was told were committed, and the failures. */
    private record ClientLog(int client, List<String> succeeded, List<Failure> failures) {
    }

    /**
     * {@value #CLIENTS} clients, each in a loop of short transactions (UPDATE of a shared counter, INSERT of its own
     * row, SELECT) through pgsvc. After an error a client closes its connection and waits until the test has seen
     * the pool recover, as an application backs off, then connects again.
     */
    private static final class Load {
        final PoolerFixture pgsvc;
        /** pg_postmaster_start_time() before the restart: a transaction that sees another ran on the new server. */
        final String oldPostmaster;
        final AtomicIntegerArray committed = new AtomicIntegerArray(CLIENTS);
        final AtomicIntegerArray committedAfterRecovery = new AtomicIntegerArray(CLIENTS);
        /** Transactions begun before the restart and committed by the restarted server: they waited in pgsvc. */
        final AtomicInteger queuedAcrossRestart = new AtomicInteger();
        final CountDownLatch resume = new CountDownLatch(1);
        /** Every client's failures as they happen, for a report while the clients still run. */
        final Queue<Failure> failed = new ConcurrentLinkedQueue<>();
        volatile Phase phase = Phase.LOAD;
        volatile boolean stopping;

        Load(PoolerFixture pgsvc, String oldPostmaster) {
            this.pgsvc = pgsvc;
            this.oldPostmaster = oldPostmaster;
        }

        boolean everyClientCommitted(AtomicIntegerArray counts, int atLeast) {
            for (int i = 0; i < counts.length(); i++) {
                if (counts.get(i) < atLeast) {
                    return false;
                }
            }
            return true;
        }

        ClientLog run(int client) throws InterruptedException {
            List<String> succeeded = new ArrayList<>();
            List<Failure> failures = new ArrayList<>();
            Connection c = null;
            long seq = 0;
            try {
                while (!stopping) {
                    seq++;
                    Phase began = phase;
                    try {
                        if (c == null) {
                            c = client(pgsvc);
                            c.setAutoCommit(false);
                        }
                        String postmaster = transaction(c, client, seq);
                        succeeded.add(client + ":" + seq);
                        committed.incrementAndGet(client);
                        if (began == Phase.RECOVERED) {
                            committedAfterRecovery.incrementAndGet(client);
                        }
                        if (began == Phase.LOAD && !postmaster.equals(oldPostmaster)) {
                            queuedAcrossRestart.incrementAndGet();
                        }
                    } catch (SQLException e) {
                        Failure f = failure(client, seq, began, phase, e);
                        failures.add(f);
                        failed.add(f);
                        closeQuietly(c);
                        c = null;
                        if (!resume.await(DEADLINE.toSeconds(), TimeUnit.SECONDS)) {
                            throw new IllegalStateException("client " + client + " was never resumed");
                        }
                    }
                }
            } finally {
                closeQuietly(c);
            }
            return new ClientLog(client, succeeded, failures);
        }

        /** One transaction; returns the server's pg_postmaster_start_time(). */
        private static String transaction(Connection c, int client, long seq) throws SQLException {
            try (PreparedStatement up = c.prepareStatement("UPDATE it_restart_counter SET n = n + 1 WHERE id = 1")) {
                if (up.executeUpdate() != 1) {
                    throw new IllegalStateException("the counter row is missing");
                }
            }
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO it_restart_log VALUES (?, ?)")) {
                ins.setInt(1, client);
                ins.setLong(2, seq);
                ins.executeUpdate();
            }
            String postmaster;
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                    "SELECT n, pg_postmaster_start_time()::text FROM it_restart_counter WHERE id = 1")) {
                if (!rs.next()) {
                    throw new IllegalStateException("the counter row is missing");
                }
                postmaster = rs.getString(2);
            }
            c.commit();
            return postmaster;
        }
    }

    /** The failures of every client, for a failure report (the successes would be thousands). */
    private static String failures(List<ClientLog> logs) {
        StringBuilder s = new StringBuilder();
        for (ClientLog log : logs) {
            s.append("\nclient ").append(log.client()).append(": ").append(log.succeeded().size())
                    .append(" committed, failed: ").append(log.failures());
        }
        return s.toString();
    }

    private static Failure failure(int client, long seq, Phase began, Phase failedIn, SQLException e) {
        ServerErrorMessage m = e instanceof PSQLException pe ? pe.getServerErrorMessage() : null;
        StringBuilder chain = new StringBuilder();
        for (SQLException x = e; x != null; x = x.getNextException()) {
            chain.append(x.getSQLState()).append(' ').append(x.getMessage()).append(" / ");
        }
        return new Failure(client, seq, began, failedIn, e.getSQLState(), m == null ? null : m.getSeverity(),
                m == null ? e.getMessage() : m.getMessage(), chain.toString());
    }

    /**
     * In flight, the transaction was on a server when PostgreSQL stopped; pgjdbc reports the first error it read:
     * <ul>
     *   <li>PostgreSQL's 57P01, forwarded, then pgsvc's "server conn crashed?" when the socket closed;</li>
     *   <li>"server conn crashed?" alone, when the dying server was handed to the client as PostgreSQL stopped and
     *       its 57P01 came before the client was linked to it (pgsvc drops what a server sends before the link);</li>
     *   <li>"invalid server parameter", when the server died under the pooler's SET of the client's parameters:
     *       PgBouncer says the same for any error to that SET (server.c, setting_vars).</li>
     * </ul>
     * Refused: the server_login_retry error with a reason a restart gives. Anything else (query_wait_timeout, an I/O
     * error of pgjdbc's own, a login error passed to a waiting client) fails the test.
     */
    private static Kind classify(Failure f) {
        if (!"FATAL".equals(f.severity())) {
            return Kind.OTHER;
        }
        if ("57P01".equals(f.sqlState()) && ADMIN_SHUTDOWN.equals(f.message())
                && f.chain().contains("08P01 FATAL: " + SERVER_CRASHED)
                || "08P01".equals(f.sqlState()) && (SERVER_CRASHED.equals(f.message())
                        || SET_FAILED.equals(f.message()))) {
            return Kind.IN_FLIGHT;
        }
        if ("08P01".equals(f.sqlState()) && f.message() != null) {
            Matcher m = LOGIN_FAILING.matcher(f.message());
            if (m.matches() && RESTART_LOGIN_ERROR.matcher(m.group(1)).matches()) {
                return Kind.LOGIN_FAILING;
            }
        }
        return Kind.OTHER;
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    private static Map<String, String> settings() {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("admin_users", PgCluster.SUPERUSER);
        s.put("default_pool_size", Integer.toString(POOL_SIZE));
        return s;
    }

    private static PoolerFixture pgsvc(Map<String, String> settings) {
        return PoolerFixture.builder(settings).cluster(cluster)
                .userlist(PoolerFixture.USERLIST + '"' + ROLE + "\" \"" + PASSWORD + "\"\n").start();
    }

    private static Connection client(PoolerFixture pgsvc) throws SQLException {
        return pgsvc.connect(PgCluster.DATABASE, ROLE, PASSWORD, new Properties());
    }

    private static Connection superuser() throws SQLException {
        return cluster.primary().connect(PgCluster.DATABASE, PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD);
    }

    private static String postmasterStart() throws SQLException {
        try (Connection c = superuser(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_postmaster_start_time()::text")) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    /** The first column of the first row. */
    private static String query(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            assertTrue(rs.next(), sql);
            return rs.getString(1);
        }
    }

    /** The answer, or the error as "SQLSTATE SEVERITY message" (for a query run on another thread). */
    private static String queryOrError(Connection c, String sql) {
        try {
            return query(c, sql);
        } catch (PSQLException e) {
            ServerErrorMessage m = e.getServerErrorMessage();
            return m == null ? "client error: " + e : m.getSQLState() + " " + m.getSeverity() + " " + m.getMessage();
        } catch (SQLException e) {
            return "client error: " + e;
        }
    }

    /** Asserts PgBouncer's server_login_retry FATAL and returns the cached reason it carries. */
    private static String assertLoginFailing(PSQLException e) {
        ServerErrorMessage m = e.getServerErrorMessage();
        assertNotNull(m, () -> "expected an ErrorResponse, got a client-side error: " + e);
        assertEquals("08P01", m.getSQLState(), m::toString);
        assertEquals("FATAL", m.getSeverity(), m::toString);
        Matcher matcher = LOGIN_FAILING.matcher(m.getMessage());
        assertTrue(matcher.matches(), m::toString);
        return matcher.group(1);
    }

    private static void closeQuietly(Connection c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (SQLException expected) {
            // the connection was ended by the other side
        }
    }

    /** A previous test's servers must be gone, or pg_stat_activity would count them. */
    private static void awaitNoBackends() {
        Await.until(DEADLINE, "no backend of " + ROLE + " is left from an earlier test", () -> backends() == 0);
    }

    private static int backends() throws SQLException {
        try (Connection c = cluster.primary().connectAdmin(); PreparedStatement ps = c.prepareStatement(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = ? AND datname = ?")) {
            ps.setString(1, ROLE);
            ps.setString(2, PgCluster.DATABASE);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /**
     * Stops PostgreSQL, waits until pgsvc has dropped its servers (each idle one gets the shutdown's FATAL between
     * transactions), then runs {@code sql} on {@code c} in the background and returns once the client is queued and
     * the connect launched for it has failed (or the query has already ended).
     */
    private static CompletableFuture<String> queueWhilePostgresIsDown(PoolerFixture pgsvc, Connection c, String sql)
            throws Exception {
        cluster.primary().stop();
        Await.until(DEADLINE, "pgsvc has dropped the servers of the stopped PostgreSQL",
                () -> poolServers(pgsvc) == 0);
        CompletableFuture<String> waiting = CompletableFuture.supplyAsync(() -> queryOrError(c, sql));
        Await.until(DEADLINE, "the client waits for a server", () -> waiting.isDone()
                || showPools(pgsvc).get("cl_waiting") == 1);
        // It was queued and a connect launched in the same step; no connect in progress means it failed.
        Await.until(DEADLINE, "the connect for the waiting client has failed",
                () -> waiting.isDone() || showPools(pgsvc).get("sv_login") == 0);
        return waiting;
    }

    /** No client left, and pgsvc and PostgreSQL count the same server connections, within the pool's size. */
    private static void assertPoolAgrees(PoolerFixture pgsvc) {
        Await.until(DEADLINE, "SHOW POOLS and pg_stat_activity count the same servers, at most " + POOL_SIZE, () -> {
            Map<String, Integer> pool = showPools(pgsvc);
            int servers = ConsoleQueries.servers(pool);
            return pool.get("cl_active") == 0 && pool.get("cl_waiting") == 0 && servers >= 1
                    && servers <= POOL_SIZE && servers == backends();
        });
    }

    /**
     * What the pool's clients and servers, and their backends, are doing: for a failure report of a pool that stopped
     * moving (a backend idle in transaction waits on pgsvc or its client, an active one on a lock or the server).
     */
    private static String snapshot(PoolerFixture pgsvc) {
        StringBuilder s = new StringBuilder();
        try (Connection c = ConsoleQueries.console(pgsvc); Statement st = c.createStatement()) {
            for (String show : new String[] {"SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS"}) {
                s.append(show).append(":\n");
                rows(st, show, s);
            }
        } catch (SQLException e) {
            s.append("console: ").append(e).append('\n');
        }
        try (Connection c = superuser(); Statement st = c.createStatement()) {
            s.append("pg_stat_activity:\n");
            rows(st, "SELECT pid, client_port, state, wait_event_type, wait_event, backend_xid,"
                    + " now() - xact_start AS xact_age, query FROM pg_stat_activity WHERE usename = '" + ROLE + "'", s);
            s.append("pg_locks not granted:\n");
            rows(st, "SELECT pid, locktype, mode, relation::regclass FROM pg_locks WHERE NOT granted", s);
        } catch (SQLException e) {
            s.append("PostgreSQL: ").append(e).append('\n');
        }
        return s.toString();
    }

    private static void rows(Statement st, String sql, StringBuilder out) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            int columns = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                out.append(' ');
                for (int i = 1; i <= columns; i++) {
                    out.append(' ').append(rs.getMetaData().getColumnLabel(i)).append('=').append(rs.getString(i));
                }
                out.append('\n');
            }
        }
    }

    private static int poolServers(PoolerFixture pgsvc) throws SQLException {
        return ConsoleQueries.servers(showPools(pgsvc));
    }

    /** The counts of SHOW POOLS for this class's pool (all zero when it is not listed). */
    private static Map<String, Integer> showPools(PoolerFixture pgsvc) throws SQLException {
        return ConsoleQueries.poolCounts(pgsvc, PgCluster.DATABASE::equals, ROLE);
    }
}
