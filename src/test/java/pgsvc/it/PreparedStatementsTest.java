package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
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

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * Named prepared statements in transaction mode (max_prepared_statements): real drivers and a raw wire client against
 * the real primary. Database {@code ps_one} has one server, {@code ps_two} two, so that who shares a server is known.
 */
@ExtendWith(PgClusterExtension.class)
class PreparedStatementsTest {
    private static final String USER = PgCluster.MD5_USER;
    private static final String PASSWORD = PgCluster.MD5_PASSWORD;
    private static final String BENCH_DB = "pgsvc_bench";
    private static final Duration PGBENCH_TIMEOUT = Duration.ofSeconds(120);

    private static PoolerFixture pooler;

    @BeforeAll
    static void start() throws Exception {
        PgCluster.shared().pgbenchInit(BENCH_DB, 1);
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "5");
        pooler = start(settings);
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    private static PoolerFixture start(Map<String, String> settings) {
        int port = PgCluster.shared().primary().port();
        return PoolerFixture.builder(settings)
                .databases("ps_one = host=127.0.0.1 port=" + port + " dbname=pgsvc pool_size=1\n"
                        + "ps_two = host=127.0.0.1 port=" + port + " dbname=pgsvc pool_size=2\n")
                .start();
    }

    // ---- real clients -----------------------------------------------------------------------------------------------

    @Test
    void pgbenchPreparedOverFiveServers() {
        // The tps are for the record (printed); what is asserted is that nothing fails.
        // A short run of each through pgsvc first, so that the measured ones do not pay for its JIT warm-up.
        for (String mode : List.of("prepared", "simple")) {
            ProcResult warmUp = pgbench(pooler.port(), mode, "-n", "-S", "-c", "100", "-j", "2", "-T", "2");
            assertEquals(0, warmUp.orThrow().failedTransactions(), warmUp.describe());
        }
        String[] common = {"-n", "-S", "-c", "100", "-j", "2", "-T", "8"};
        ProcResult prepared = pgbench(pooler.port(), "prepared", common);
        ProcResult simple = pgbench(pooler.port(), "simple", common);
        ProcResult direct = pgbench(PgCluster.shared().primary().port(), "prepared", common);
        for (ProcResult r : List.of(prepared, simple, direct)) {
            r.orThrow();
            assertEquals(0, r.failedTransactions(), r.describe());
            assertTrue(r.processedTransactions() > 0, r.describe());
        }
        System.out.printf("pgbench -S -c 100 -T 8: -M prepared through pgsvc (5 servers) %.0f tps, -M simple through"
                + " pgsvc %.0f tps, -M prepared direct %.0f tps%n", prepared.tps(), simple.tps(), direct.tps());
    }

    @Test
    void pgjdbcPreparingAtOnceFromSixteenThreadsOverTwoServers() throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(16);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                int thread = t;
                runs.add(threads.submit(() -> {
                    jdbcWorkload(thread);
                    return null;
                }));
            }
            for (Future<?> run : runs) {
                run.get(120, TimeUnit.SECONDS);
            }
        } finally {
            threads.shutdownNow();
        }
        try (Connection c = connect("ps_two", 1); PreparedStatement ps = c.prepareStatement(
                "SELECT ?::int * 3 AS pgsvc_jdbc_probe")) {
            c.setAutoCommit(false);
            ps.setInt(1, 1);
            ps.executeQuery().close();
            List<String> names = serverNames(c, "pgsvc_jdbc_probe");
            assertEquals(1, names.size(), names.toString());
            assertTrue(names.get(0).startsWith("PGSVC_"), names.toString());
            c.commit();
        }
    }

    private static void jdbcWorkload(int thread) throws SQLException {
        try (Connection c = connect("ps_two", 1);
             PreparedStatement times = c.prepareStatement("SELECT ?::int * 3 AS pgsvc_jdbc_probe");
             PreparedStatement concat = c.prepareStatement("SELECT ?::text || '-' || ?::text");
             PreparedStatement sum = c.prepareStatement("SELECT sum(g) FROM generate_series(1, ?::int) g")) {
            for (int i = 0; i < 60; i++) {
                boolean tx = i % 3 == 0;
                c.setAutoCommit(!tx);
                times.setInt(1, i + thread);
                assertEquals((i + thread) * 3, single(times).intValue());
                concat.setString(1, "t" + thread);
                concat.setString(2, Integer.toString(i));
                try (ResultSet rs = concat.executeQuery()) {
                    assertTrue(rs.next());
                    assertEquals("t" + thread + "-" + i, rs.getString(1));
                }
                sum.setInt(1, i + 1);
                assertEquals((long) (i + 1) * (i + 2) / 2, single(sum).longValue());
                if (tx) {
                    c.commit();
                }
            }
        }
    }

    @Test
    void aStatementPreparedByOneClientIsSharedWithAnotherOnAnotherServer() throws Exception {
        String sql = "SELECT pg_backend_pid(), ?::int AS pgsvc_shared_probe";
        try (Connection a = connect("ps_two", 1); Connection b = connect("ps_two", 1);
             PreparedStatement pa = a.prepareStatement(sql); PreparedStatement pb = b.prepareStatement(sql)) {
            a.setAutoCommit(false);
            b.setAutoCommit(false);
            // Each holds its transaction, so the two are on the pool's two servers at once.
            int pidA = pid(pa, 1);
            int pidB = pid(pb, 2);
            assertNotEquals(pidA, pidB, "two transactions at once are on two servers");
            List<String> onA = serverNames(a, "pgsvc_shared_probe");
            List<String> onB = serverNames(b, "pgsvc_shared_probe");
            assertEquals(1, onA.size(), onA.toString());
            assertEquals(onA, onB, "one pooler-wide statement, the same name on both servers");
            a.commit();
            b.commit();
            // Now each finds it wherever its next transaction lands.
            for (int i = 0; i < 10; i++) {
                pid(pa, i);
                pid(pb, i);
                a.commit();
                b.commit();
            }
        }
    }

    @Test
    void aServerConnectionDiesAndItsStatementIsPreparedOnTheNextOne() throws Exception {
        try (Connection c = connect("ps_one", 1);
             PreparedStatement ps = c.prepareStatement("SELECT pg_backend_pid(), ?::int AS pgsvc_kill_probe")) {
            int before = pid(ps, 1);
            assertEquals(before, pid(ps, 2), "one server in this pool");
            try (Connection admin = PgCluster.shared().primary().connectAdmin();
                 Statement st = admin.createStatement()) {
                st.execute("SELECT pg_terminate_backend(" + before + ")");
                Await.until(Duration.ofSeconds(30), "the backend exits", () -> {
                    try (ResultSet rs = st.executeQuery(
                            "SELECT count(*) FROM pg_stat_activity WHERE pid = " + before)) {
                        rs.next();
                        return rs.getInt(1) == 0;
                    }
                });
            }
            // Another client finds out for the pool: with one server, its success means the dead one is gone.
            Await.until(Duration.ofSeconds(30), "the pool has a live server again", () -> {
                try (Connection probe = pooler.connect("ps_one", USER, PASSWORD, new Properties());
                     Statement st = probe.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
                    return rs.next();
                }
            });
            int after = pid(ps, 3);
            assertNotEquals(before, after);
            c.setAutoCommit(false);
            pid(ps, 4);
            assertEquals(1, serverNames(c, "pgsvc_kill_probe").size());
            c.commit();
        }
    }

    @Test
    void pgjdbcAfterDiscardAllAndDeallocateAll() throws Exception {
        try (Connection c = connect("ps_two", 1); Statement st = c.createStatement();
             PreparedStatement ps = c.prepareStatement("SELECT ?::int + 100")) {
            for (String reset : List.of("DISCARD ALL", "DEALLOCATE ALL", "DEALLOCATE PREPARE ALL")) {
                ps.setInt(1, 1);
                assertEquals(101, single(ps).intValue());
                ps.setInt(1, 2);
                assertEquals(102, single(ps).intValue());
                st.execute(reset);
                ps.setInt(1, 3);
                assertEquals(103, single(ps).intValue(), "after " + reset);
            }
        }
    }

    // ---- the protocol, message by message ---------------------------------------------------------------------------

    @Test
    void pipelinedWithoutSyncAnswersInOrder() throws Exception {
        try (WireClient first = wire("ps_one"); WireClient second = wire("ps_one")) {
            // The only server of ps_one gets "SELECT $1::int * 2" prepared by the first client.
            first.sendRaw(cat(parse("q1", "SELECT $1::int * 2"), sync()));
            assertEquals("1Z", types(readUntilReady(first)));
            // The second client's Parse of the same statement is answered by the pooler, in its place between the
            // server's answers; its Close as well.
            second.sendRaw(cat(parse("", "SELECT 10"), bind("", ""), execute(), parse("y1", "SELECT $1::int * 2"),
                    bind("", "y1", "21"), execute(), describe('S', "y1"), close('S', "y1"), flush()));
            List<WireClient.Message> got = read(second, 11);
            assertEquals("12DC12DCtT3", types(got));
            assertEquals("10", text(got.get(2)));
            assertEquals("42", text(got.get(6)));
            second.sendRaw(sync());
            assertEquals("Z", types(readUntilReady(second)));
            // Closed: unknown now, as PostgreSQL says.
            second.sendRaw(cat(bind("", "y1"), execute(), sync()));
            assertError(readUntilReady(second), "26000", "prepared statement \"y1\" does not exist");
            // The first client's statement is untouched by the second one's Close.
            first.sendRaw(cat(bind("", "q1", "4"), execute(), sync()));
            List<WireClient.Message> r = readUntilReady(first);
            assertEquals("2DCZ", types(r));
            assertEquals("8", text(r.get(1)));
        }
    }

    @Test
    void statementsMissingOnAServerArePreparedThereAndTheirReplySwallowed() throws Exception {
        try (WireClient c = wire("ps_two"); WireClient h1 = wire("ps_two"); WireClient h2 = wire("ps_two")) {
            // Both servers busy; c's Parse waits and gets h1's server once h1 commits.
            int first = backendInTransaction(h1);
            int second = backendInTransaction(h2);
            assertNotEquals(first, second);
            c.sendRaw(cat(parse("m1", "SELECT 'prepared once'"), sync()));
            h1.query("COMMIT").orThrow();
            assertEquals("1Z", types(readUntilReady(c)));
            // h1 takes that server back, h2 frees the other one: c's next transaction is there, without m1.
            assertEquals(first, backendInTransaction(h1));
            h2.query("COMMIT").orThrow();
            assertEquals(second, backendInTransaction(c));
            c.sendRaw(cat(bind("", "m1"), execute(), describe('S', "m1"), bind("", "m1"), execute(), sync()));
            List<WireClient.Message> r = readUntilReady(c);
            assertEquals("2DCtT2DCZ", types(r), "the injected Parse's ParseComplete swallowed, nothing else");
            assertEquals("prepared once", text(r.get(1)));
            assertEquals(List.of("1"), c.query("SELECT count(*) FROM pg_prepared_statements"
                    + " WHERE statement = 'SELECT ''prepared once'''").orThrow().values());
            c.query("COMMIT").orThrow();
            h1.query("COMMIT").orThrow();
        }
    }

    /** BEGIN, then the backend pid of the server the transaction holds. */
    private static int backendInTransaction(WireClient c) throws IOException {
        assertEquals('T', c.query("BEGIN").orThrow().txStatus());
        return Integer.parseInt(c.query("SELECT pg_backend_pid()").orThrow().values().get(0));
    }

    @Test
    void aDuplicateNameGets42P05AndTheSessionGoesOn() throws Exception {
        try (WireClient c = wire("ps_one")) {
            c.sendRaw(cat(parse("d1", "SELECT 1"), sync()));
            assertEquals("1Z", types(readUntilReady(c)));
            c.sendRaw(cat(parse("d1", "SELECT 2"), bind("", "d1"), execute(), sync()));
            List<WireClient.Message> r = readUntilReady(c);
            assertError(r, "42P05", "prepared statement \"d1\" already exists");
            assertEquals("EZ", types(r), "the rest skipped to Sync, as PostgreSQL does");
            assertEquals('I', r.get(1).body()[0]);
            // Inside a transaction the error aborts it, as it would directly.
            c.sendRaw(cat(query("BEGIN"), parse("d1", "SELECT 3"), sync()));
            assertEquals('T', c.readResult(true).txStatus());
            r = readUntilReady(c);
            assertError(r, "42P05", "prepared statement \"d1\" already exists");
            assertEquals('E', r.get(r.size() - 1).body()[0]);
            assertEquals('I', c.query("ROLLBACK").txStatus());
            c.sendRaw(cat(bind("", "d1"), execute(), sync()));
            r = readUntilReady(c);
            assertEquals("2DCZ", types(r));
            assertEquals("1", text(r.get(1)), "d1 is still the first statement");
        }
    }

    @Test
    void anUnknownNameGets26000() throws Exception {
        try (WireClient c = wire("ps_one")) {
            c.sendRaw(cat(bind("", "nope"), execute(), sync()));
            assertError(readUntilReady(c), "26000", "prepared statement \"nope\" does not exist");
            c.sendRaw(cat(describe('S', "nope"), sync()));
            assertError(readUntilReady(c), "26000", "prepared statement \"nope\" does not exist");
            assertEquals(List.of("5"), c.query("SELECT 5").orThrow().values());
        }
    }

    @Test
    void anErrorNamingAStatementNamesTheClientsOne() throws Exception {
        try (WireClient c = wire("ps_one")) {
            c.sendRaw(cat(parse("b1", "SELECT $1::int"), sync()));
            assertEquals("1Z", types(readUntilReady(c)));
            c.sendRaw(cat(bind("", "b1"), execute(), sync()));
            assertError(readUntilReady(c), "08P01",
                    "bind message supplies 0 parameters, but prepared statement \"b1\" requires 1");
        }
    }

    @Test
    void aFailedParseLeavesNothingBehind() throws Exception {
        try (WireClient c = wire("ps_one")) {
            c.sendRaw(cat(parse("f1", "SELEC 1"), bind("", "f1"), execute(), parse("f2", "SELECT 2"), sync()));
            List<WireClient.Message> r = readUntilReady(c);
            assertError(r, "42601", null);
            assertEquals("EZ", types(r));
            // f2 was skipped by the server, so it does not exist; f1 failed, so its name is free again.
            c.sendRaw(cat(bind("", "f2"), execute(), sync()));
            assertError(readUntilReady(c), "26000", "prepared statement \"f2\" does not exist");
            c.sendRaw(cat(parse("f1", "SELECT 'retried'"), bind("", "f1"), execute(), parse("f2", "SELECT 2"),
                    bind("", "f2"), execute(), sync()));
            r = readUntilReady(c);
            assertEquals("12DC12DCZ", types(r));
            assertEquals("retried", text(r.get(2)));
        }
    }

    @Test
    void closeDeallocateDiscardAllAndDeallocateAllFromAClient() throws Exception {
        try (WireClient c = wire("ps_one")) {
            for (String drop : List.of("CLOSE", "DEALLOCATE s1", "deallocate prepare \"s1\";", "DISCARD ALL",
                    "DEALLOCATE ALL")) {
                c.sendRaw(cat(parse("s1", "SELECT 'one'"), bind("", "s1"), execute(), sync()));
                assertEquals("12DCZ", types(readUntilReady(c)), drop);
                if (drop.equals("CLOSE")) {
                    c.sendRaw(cat(close('S', "s1"), sync()));
                    assertEquals("3Z", types(readUntilReady(c)));
                } else {
                    WireClient.Result r = c.query(drop).orThrow();
                    String tag = drop.startsWith("DISCARD") ? "DISCARD ALL" : drop.endsWith("ALL") ? "DEALLOCATE ALL"
                            : "DEALLOCATE";
                    assertEquals(List.of(tag), r.tags());
                }
                c.sendRaw(cat(bind("", "s1"), execute(), sync()));
                assertError(readUntilReady(c), "26000", "prepared statement \"s1\" does not exist");
                // The same name again, for a statement the server may or may not still have.
                c.sendRaw(cat(parse("s1", "SELECT 'one'"), parse("s2", "SELECT 'two'"), bind("", "s2"), execute(),
                        bind("", "s1"), execute(), close('S', "s1"), close('S', "s2"), sync()));
                List<WireClient.Message> r = readUntilReady(c);
                assertEquals("112DC2DC33Z", types(r), drop);
                assertEquals("two", text(r.get(3)));
                assertEquals("one", text(r.get(6)));
            }
        }
    }

    @Test
    void theLeastRecentlyUsedAreClosedOnTheServer() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("max_prepared_statements", "2");
        try (PoolerFixture small = start(settings);
             WireClient c = WireClient.connect(small.port(), USER, PASSWORD)) {
            c.sendRaw(cat(parse("e1", "SELECT 1"), parse("e2", "SELECT 2"), parse("e3", "SELECT 3"), sync()));
            assertEquals("111Z", types(readUntilReady(c)));
            for (int round = 0; round < 3; round++) {
                c.sendRaw(cat(bind("", "e1"), execute(), bind("", "e2"), execute(), bind("", "e3"), execute(),
                        bind("", "e2"), execute(), sync()));
                List<WireClient.Message> r = readUntilReady(c);
                assertEquals("2DC2DC2DC2DCZ", types(r));
                assertEquals(List.of("1", "2", "3", "2"),
                        List.of(text(r.get(1)), text(r.get(4)), text(r.get(7)), text(r.get(10))));
                c.sendRaw(cat(query("BEGIN"), bind("", "e1"), execute(), sync()));
                c.readResult(true);
                assertEquals("2DCZ", types(readUntilReady(c)));
                WireClient.Result count = c.query("SELECT count(*) FROM pg_prepared_statements").orThrow();
                assertTrue(Integer.parseInt(count.values().get(0)) <= 2, count.values().toString());
                c.query("COMMIT").orThrow();
            }
        }
    }

    @Test
    void sessionModePassesStatementsThrough() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("pool_mode", "session");
        try (PoolerFixture session = start(settings);
             WireClient c = WireClient.connect(session.port(), USER, PASSWORD)) {
            assertEquals(List.of("s1"), preparedOnServer(c));
        }
    }

    @Test
    void maxPreparedStatementsZeroPassesStatementsThrough() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("max_prepared_statements", "0");
        settings.put("default_pool_size", "1");
        try (PoolerFixture off = start(settings);
             WireClient c = WireClient.connect(off.port(), USER, PASSWORD)) {
            assertEquals(List.of("s1"), preparedOnServer(c));
            c.query("DEALLOCATE s1").orThrow();
        }
    }

    /** Prepares s1 and returns the names prepared on the server as the client's next query sees them. */
    private static List<String> preparedOnServer(WireClient c) throws IOException {
        c.sendRaw(cat(parse("s1", "SELECT 1"), sync()));
        assertEquals("1Z", types(readUntilReady(c)));
        return c.query("SELECT name FROM pg_prepared_statements ORDER BY name").orThrow().values();
    }

    // ---- helpers ----------------------------------------------------------------------------------------------------

    private static ProcResult pgbench(int port, String mode, String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "-M";
        all[1] = mode;
        System.arraycopy(args, 0, all, 2, args.length);
        // The md5 user: a hundred direct SCRAM logins would cost the direct run more than its queries.
        return Tools.pgbench(PGBENCH_TIMEOUT, port, USER, PASSWORD, BENCH_DB, all);
    }

    private static Connection connect(String db, int prepareThreshold) throws SQLException {
        Properties p = new Properties();
        p.setProperty("prepareThreshold", Integer.toString(prepareThreshold));
        return pooler.connect(db, USER, PASSWORD, p);
    }

    private static Number single(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            assertTrue(rs.next());
            return (Number) rs.getObject(1);
        }
    }

    private static int pid(PreparedStatement ps, int arg) throws SQLException {
        ps.setInt(1, arg);
        try (ResultSet rs = ps.executeQuery()) {
            assertTrue(rs.next());
            assertEquals(arg, rs.getInt(2));
            return rs.getInt(1);
        }
    }

    /** Server-side names of the statements containing {@code marker} on the server of the open transaction. */
    private static List<String> serverNames(Connection c, String marker) throws SQLException {
        List<String> names = new ArrayList<>();
        // The marker is a parameter, so that this query (prepared itself) does not find itself.
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT name FROM pg_prepared_statements WHERE strpos(statement, ?) > 0 ORDER BY name")) {
            ps.setString(1, marker);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    names.add(rs.getString(1));
                }
            }
        }
        return names;
    }

    private static WireClient wire(String db) throws IOException {
        WireClient c = WireClient.open(pooler.port());
        List<WireClient.Message> login = c.login(USER, PASSWORD, Map.of("database", db));
        assertEquals('Z', login.get(login.size() - 1).type(), () -> "login: " + login);
        return c;
    }

    private static List<WireClient.Message> readUntilReady(WireClient c) throws IOException {
        List<WireClient.Message> got = new ArrayList<>();
        WireClient.Message m;
        do {
            m = c.read();
            if (m.type() != 'N' && m.type() != 'S') {
                got.add(m);
            }
        } while (m.type() != 'Z');
        return got;
    }

    private static List<WireClient.Message> read(WireClient c, int n) throws IOException {
        List<WireClient.Message> got = new ArrayList<>();
        while (got.size() < n) {
            WireClient.Message m = c.read();
            if (m.type() != 'N' && m.type() != 'S') {
                got.add(m);
            }
        }
        return got;
    }

    private static String types(List<WireClient.Message> messages) {
        StringBuilder b = new StringBuilder();
        for (WireClient.Message m : messages) {
            b.append(m.type());
        }
        return b.toString();
    }

    /** The first column of a DataRow, as text. */
    private static String text(WireClient.Message m) {
        assertEquals('D', m.type());
        ByteBuffer b = ByteBuffer.wrap(m.body());
        b.getShort();
        int len = b.getInt();
        return len < 0 ? null : new String(m.body(), b.position(), len, StandardCharsets.UTF_8);
    }

    private static void assertError(List<WireClient.Message> messages, String sqlState, String message) {
        WireClient.Message e = messages.stream().filter(m -> m.type() == 'E').findFirst()
                .orElseThrow(() -> new AssertionError("no ErrorResponse in " + types(messages)));
        assertEquals(sqlState, e.fields().get('C'), e.fields().toString());
        assertEquals("ERROR", e.fields().get('S'), e.fields().toString());
        if (message != null) {
            assertEquals(message, e.fields().get('M'));
        }
    }

    // ---- frontend messages ------------------------------------------------------------------------------------------

    private static byte[] parse(String name, String sql) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, name);
        cstring(b, sql);
        b.write(0);
        b.write(0);
        return frame('P', b.toByteArray());
    }

    /** Bind with text parameters, text results. */
    private static byte[] bind(String portal, String statement, String... params) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, portal);
        cstring(b, statement);
        b.writeBytes(new byte[] {0, 0});
        b.writeBytes(ByteBuffer.allocate(2).putShort((short) params.length).array());
        for (String p : params) {
            byte[] v = p.getBytes(StandardCharsets.UTF_8);
            b.writeBytes(ByteBuffer.allocate(4).putInt(v.length).array());
            b.writeBytes(v);
        }
        b.writeBytes(new byte[] {0, 0});
        return frame('B', b.toByteArray());
    }

    private static byte[] execute() {
        return frame('E', new byte[] {0, 0, 0, 0, 0});
    }

    private static byte[] describe(char kind, String name) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(kind);
        cstring(b, name);
        return frame('D', b.toByteArray());
    }

    private static byte[] close(char kind, String name) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(kind);
        cstring(b, name);
        return frame('C', b.toByteArray());
    }

    private static byte[] query(String sql) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, sql);
        return frame('Q', b.toByteArray());
    }

    private static byte[] sync() {
        return frame('S', new byte[0]);
    }

    private static byte[] flush() {
        return frame('H', new byte[0]);
    }

    private static byte[] frame(char type, byte[] body) {
        return ByteBuffer.allocate(5 + body.length).put((byte) type).putInt(4 + body.length).put(body).array();
    }

    private static byte[] cat(byte[]... frames) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] f : frames) {
            b.writeBytes(f);
        }
        return b.toByteArray();
    }

    private static void cstring(ByteArrayOutputStream b, String s) {
        b.writeBytes(s.getBytes(StandardCharsets.UTF_8));
        b.write(0);
    }
}
