package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.postgresql.PGConnection;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLWarning;
import org.postgresql.util.ServerErrorMessage;

import pgsvc.router.Pgsvc;
import pgsvc.testing.Await;
import pgsvc.testing.PgBouncerProcess;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * The same pgbouncer.ini and the same client actions against a real PgBouncer and against pgsvc: what the client
 * observes (rows, SQLSTATE and text of errors and notices, whether the connection survives) must be equal. Each
 * scenario writes a transcript, one line per observation, on both; the PgBouncer transcript must also show what the
 * scenario is about, so that two equal failures to set it up cannot pass.
 *
 * <p>The reference is Debian 12's PgBouncer 1.18; pgsvc targets 1.25. Behaviour known to differ between those
 * versions is not compared here (reference: /work/shared/reference/pgbouncer-compat.md):
 * <ul>
 *   <li>the server_login_retry fast-fail text: 1.24 added the cached server error ({@code server login has been
 *       failing, cached error: ...}; 1.17–1.23 say {@code try again later});</li>
 *   <li>named protocol-level prepared statements in transaction mode (max_prepared_statements, 1.21; on by default
 *       since 1.24): 1.18 passes them through, so pgjdbc runs with prepareThreshold=0 here;</li>
 *   <li>the {@code options} startup parameter (1.18 does not parse it) and IntervalStyle tracking
 *       (track_extra_parameters, 1.20);</li>
 *   <li>the query_wait_notify NOTICE (1.25): the query_wait_timeout scenario ends before its 5 s default;</li>
 *   <li>protocol 3.2 / {@code _pq_} options and NegotiateProtocolVersion, direct TLS, default_pool_size=0 meaning
 *       unlimited (1.24), per-db/user client caps (1.24), transaction_timeout (1.25);</li>
 *   <li>server_tls_sslmode's default (disable before 1.20, prefer since): set explicitly below;</li>
 *   <li>admin console columns and SHOW VERSION (§3.9), SIGTERM semantics (1.23), server_check_query's default.</li>
 * </ul>
 */
@ExtendWith(PgClusterExtension.class)
class DifferentialTest {
    private static final String USERLIST = PoolerFixture.USERLIST;
    private static final String MD5 = PgCluster.MD5_USER;
    private static final String SCRAM = PgCluster.SCRAM_USER;
    private static final Duration REFUSED_CLIENT_LEAVES = Duration.ofSeconds(10);
    private static final Duration COUNTS_SETTLE = Duration.ofSeconds(20);

    @BeforeAll
    static void requirePgBouncer() {
        assertTrue(PgBouncerProcess.installed(), "the differential tests run a real PgBouncer, and none is "
                + "installed; install it with: " + PgBouncerProcess.INSTALL_HINT);
    }

    @ParameterizedTest(name = "preferQueryMode={0}")
    @ValueSource(strings = {"simple", "extended"})
    void queriesInTransactionMode(String mode) throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            Connection c = s.connect("c", "pgsvc", MD5, PgCluster.MD5_PASSWORD, mode(mode));
            s.sql("c", c, "SELECT 1 AS one, 'a'::text AS a, NULL::int AS n");
            s.sql("c", c, "SELECT g FROM generate_series(1, 3) g");
            s.sql("c", c, "SELECT current_user, current_database()");
            s.sql("c", c, "SELECT 1; SELECT 2");
            s.prepared("c", c, "SELECT ?::int + 1, ?::text", 41, "x");
            s.prepared("c", c, "SELECT g FROM generate_series(1, ?) g", 2);
            s.sql("c", c, "SHOW client_encoding");
            s.sql("c", c, "SHOW DateStyle");
            s.sql("c", c, "SHOW standard_conforming_strings");
            s.note("c server_version: " + c.getMetaData().getDatabaseProductVersion());
            s.fate("c", c);
        }, "c: SELECT g FROM generate_series(1, 3) g -> [1] [2] [3]", "c: SELECT ?::int + 1, ?::text -> [42|x]");
    }

    @Test
    void loginReportsTheSameParameterStatuses() throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            try (WireClient w = WireClient.open(s.port())) {
                List<WireClient.Message> login = w.login(MD5, PgCluster.MD5_PASSWORD, Map.of());
                Map<String, String> params = new TreeMap<>();
                for (WireClient.Message m : login) {
                    if (m.type() == 'S') {
                        String[] kv = new String(m.body(), StandardCharsets.UTF_8).split("\0");
                        params.put(kv[0], kv.length > 1 ? kv[1] : "");
                    }
                }
                s.note("login ended with '" + login.get(login.size() - 1).type() + "'");
                params.forEach((k, v) -> s.note("ParameterStatus " + k + "=" + v));
            }
        }, "login ended with 'Z'", "ParameterStatus session_authorization=" + MD5);
    }

    @ParameterizedTest(name = "preferQueryMode={0}")
    @ValueSource(strings = {"simple", "extended"})
    void anErrorAbortsTheTransactionUntilRollback(String mode) throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            Connection c = s.connect("c", "pgsvc", MD5, PgCluster.MD5_PASSWORD, mode(mode));
            s.sql("c", c, "BEGIN");
            s.sql("c", c, "SELECT 1/0");
            s.sql("c", c, "SELECT 1");
            s.sql("c", c, "ROLLBACK");
            s.sql("c", c, "SELECT 1");
            s.fate("c", c);
        }, "c: SELECT 1/0 -> ERROR 22012 division by zero",
                "c: SELECT 1 -> ERROR 25P02 current transaction is aborted, commands ignored until end of transaction "
                        + "block", "c fate: usable");
    }

    @ParameterizedTest(name = "auth_type={0}")
    @ValueSource(strings = {"md5", "scram-sha-256"})
    void badCredentialsAreRefused(String authType) throws Exception {
        assertSameBehaviour(Ini.defaults().set("auth_type", authType), s -> {
            s.connect("md5 user, wrong password", "pgsvc", MD5, "not-the-password", new Properties());
            s.connect("scram user, wrong password", "pgsvc", SCRAM, "not-the-password", new Properties());
            s.connect("unknown user", "pgsvc", "no_such_user", "not-the-password", new Properties());
            Connection md5 = s.connect("md5 user", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("md5 user", md5, "SELECT current_user");
            Connection scram = s.connect("scram user", "pgsvc", SCRAM, PgCluster.SCRAM_PASSWORD, new Properties());
            s.sql("scram user", scram, "SELECT current_user");
        }, "unknown user connect: FATAL 08P01", "scram user: SELECT current_user -> [" + SCRAM + "]");
    }

    @Test
    void anUnknownDatabaseIsRefusedAfterAuthentication() throws Exception {
        assertSameBehaviour(Ini.defaults().withoutWildcard(), s -> {
            s.connect("x", "x", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.connect("x, wrong password", "x", MD5, "not-the-password", new Properties());
            s.connect("x, unknown user", "x", "no_such_user", "not-the-password", new Properties());
            Connection c = s.connect("pgsvc", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.fate("pgsvc", c);
        }, "x connect: FATAL 08P01 no such database: x", "pgsvc fate: usable");
    }

    @Test
    void maxClientConnRefusesTheClientOverTheLimit() throws Exception {
        assertSameBehaviour(Ini.defaults().set("max_client_conn", "2"), s -> {
            Connection first = s.connect("first", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            Connection second = s.connect("second", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.connect("third", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.fate("first", first);
            s.fate("second", second);
            first.close();
            // The pooler learns of the close asynchronously.
            Await.until(REFUSED_CLIENT_LEAVES, "a third client fits again", () -> {
                try (Connection again = DriverManager.getConnection(s.url("pgsvc"),
                        s.properties(MD5, PgCluster.MD5_PASSWORD, new Properties()))) {
                    return again.isValid(10);
                }
            });
            s.note("a third client fits once the first left");
        }, "third connect: FATAL 08P01 no more connections allowed (max_client_conn)", "second fate: usable");
    }

    @Test
    void aStartupParameterOutsideIgnoreStartupParametersIsRefused() throws Exception {
        assertSameBehaviour(Ini.defaults().set("ignore_startup_parameters", ""), s -> {
            // pgjdbc always sends extra_float_digits.
            s.connect("pgjdbc", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
        }, "pgjdbc connect: FATAL 08P01 unsupported startup parameter: extra_float_digits");
    }

    @ParameterizedTest(name = "preferQueryMode={0}")
    @ValueSource(strings = {"simple", "extended"})
    void statementModeRefusesTransactionBlocks(String mode) throws Exception {
        assertSameBehaviour(Ini.defaults().set("pool_mode", "statement"), s -> {
            Connection c = s.connect("c", "pgsvc", MD5, PgCluster.MD5_PASSWORD, mode(mode));
            s.sql("c", c, "SELECT 1");
            s.sql("c", c, "SELECT 1; SELECT 2");
            s.sql("c", c, "BEGIN");
            s.fate("c", c);
        }, "c: BEGIN -> FATAL 08P01 transaction blocks not allowed in statement pooling mode");
    }

    @Test
    void sessionModeKeepsSessionStateUntilTheClientLeaves() throws Exception {
        Ini ini = Ini.defaults().set("pool_mode", "session").set("default_pool_size", "1");
        assertSameBehaviour(ini, s -> {
            Connection a = s.connect("a", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("a", a, "SET work_mem = '1MB'");
            s.sql("a", a, "CREATE TEMP TABLE differential_session (x int)");
            s.sql("a", a, "INSERT INTO differential_session VALUES (7)");
            s.sql("a", a, "SHOW work_mem");
            s.sql("a", a, "SELECT x FROM differential_session");
            int pidA = backendPid(a);
            a.close();
            // pool_size=1: b waits for a's server, which DISCARD ALL (server_reset_query) resets first.
            Connection b = s.connect("b", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("b", b, "SHOW work_mem");
            s.sql("b", b, "SELECT count(*) FROM pg_class WHERE relname = 'differential_session'");
            s.note("b runs on a's server: " + (backendPid(b) == pidA));
        }, "a: SHOW work_mem -> [1MB]", "a: SELECT x FROM differential_session -> [7]",
                "b runs on a's server: true");
    }

    @Test
    void transactionModeTracksTimeZonePerClientAcrossOneServer() throws Exception {
        assertSameBehaviour(Ini.defaults().set("default_pool_size", "1"), s -> {
            Connection a = s.connect("a", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            Connection b = s.connect("b", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("a", a, "SET TimeZone = 'Asia/Tokyo'");
            s.sql("b", b, "SHOW TimeZone");
            s.sql("a", a, "SHOW TimeZone");
            s.sql("b", b, "SET TimeZone = 'America/New_York'");
            s.sql("a", a, "SHOW TimeZone");
            s.sql("b", b, "SHOW TimeZone");
            // Untracked settings stay with the server, and so reach the next client: by design in transaction mode.
            s.sql("a", a, "SET work_mem = '1MB'");
            s.sql("b", b, "SHOW work_mem");
            s.note("a and b share one server: " + (backendPid(a) == backendPid(b)));
        }, "a: SHOW TimeZone -> [Asia/Tokyo]", "b: SHOW TimeZone -> [America/New_York]", "b: SHOW work_mem -> [1MB]",
                "a and b share one server: true");
    }

    @Test
    void aClientWaitingLongerThanQueryWaitTimeoutIsDisconnected() throws Exception {
        // query_wait_timeout is the deadline under test: b waits about a second, then the pooler gives up on it.
        Ini ini = Ini.defaults().set("default_pool_size", "1").set("query_wait_timeout", "1");
        assertSameBehaviour(ini, s -> {
            Connection a = s.connect("a", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            Connection b = s.connect("b", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("a", a, "BEGIN");
            s.sql("a", a, "SELECT 1");
            s.sql("b", b, "SELECT 2");
            s.fate("b", b);
            s.sql("a", a, "COMMIT");
            s.fate("a", a);
        }, "b: SELECT 2 -> FATAL 08P01 query_wait_timeout", "a fate: usable");
    }

    @Test
    void aQueryRunningLongerThanQueryTimeoutEndsTheClient() throws Exception {
        Ini ini = Ini.defaults().set("query_timeout", "1");
        assertSameBehaviour(ini, s -> {
            Connection a = s.connect("a", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("a", a, "SELECT 1");
            s.sql("a", a, "SELECT pg_sleep(30)");
            s.fate("a", a);
        }, "a: SELECT pg_sleep(30) -> FATAL 08P01 query timeout");
    }

    @Test
    void anIdleTransactionLongerThanIdleTransactionTimeoutEndsTheClient() throws Exception {
        Ini ini = Ini.defaults().set("idle_transaction_timeout", "1");
        assertSameBehaviour(ini, s -> {
            Connection a = s.connect("a", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.sql("a", a, "BEGIN");
            s.sql("a", a, "SELECT 1");
            Await.until(Duration.ofSeconds(30), "the idle transaction ended on PostgreSQL",
                    () -> TestRoles.backends(MD5, "idle in transaction") == 0);
            s.sql("a", a, "SELECT 2");
        }, "a: SELECT 2 -> FATAL 08P01 idle transaction timeout");
    }

    @Test
    void copyInAndOut() throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            Connection c = s.connect("c", "pgsvc", MD5, PgCluster.MD5_PASSWORD, new Properties());
            s.quietly(c, "DROP TABLE IF EXISTS differential_copy");
            s.quietly(c, "CREATE TABLE differential_copy (id int, t text)");
            s.copyIn("c", c, "COPY differential_copy FROM STDIN", "1\tone\n2\ttwo\n");
            s.copyOut("c", c, "COPY (SELECT id, t FROM differential_copy ORDER BY id) TO STDOUT");
            s.copyIn("c", c, "COPY differential_copy FROM STDIN", "3\tthree\nx\tbad\n");
            s.fate("c", c);
            s.sql("c", c, "SELECT count(*) FROM differential_copy");
            s.copyOut("c", c, "COPY no_such_table TO STDOUT");
            s.fate("c", c);
            s.quietly(c, "DROP TABLE differential_copy");
        }, "c: COPY differential_copy FROM STDIN -> 2 rows", "c: COPY (SELECT id, t FROM differential_copy ORDER BY "
                + "id) TO STDOUT -> \"1\\tone\\n2\\ttwo\\n\"", "c: SELECT count(*) FROM differential_copy -> [2]");
    }

    @ParameterizedTest(name = "preferQueryMode={0}")
    @ValueSource(strings = {"simple", "extended"})
    void noticesReachTheClient(String mode) throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            Connection c = s.connect("c", "pgsvc", MD5, PgCluster.MD5_PASSWORD, mode(mode));
            s.sql("c", c, "DO $$BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END$$");
            s.sql("c", c, "SELECT 1");
        }, "c: DO $$BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END$$ -> count 0 "
                + "+ NOTICE 00000 hello 42 + WARNING 01000 careful");
    }

    @Test
    void anEmptyQuery() throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            try (WireClient w = WireClient.connect(s.port(), MD5, PgCluster.MD5_PASSWORD)) {
                for (String sql : List.of("", ";", " ")) {
                    w.sendQuery(sql);
                    List<String> seen = new ArrayList<>();
                    WireClient.Message m;
                    do {
                        m = w.read();
                        seen.add(m.type() == 'Z' ? "Z(" + (char) m.body()[0] + ")" : String.valueOf(m.type()));
                    } while (m.type() != 'Z');
                    s.note("simple query \"" + sql + "\" -> " + seen);
                }
            }
            Connection c = s.connect("c", "pgsvc", MD5, PgCluster.MD5_PASSWORD, mode("extended"));
            s.sql("c", c, "");
            s.fate("c", c);
        }, "simple query \"\" -> [I, Z(I)]");
    }

    @Test
    void aProtocol2StartupIsRefused() throws Exception {
        assertSameBehaviour(Ini.defaults(), s -> {
            try (WireClient w = WireClient.open(s.port())) {
                w.sendRaw(protocol2Startup());
                WireClient.Message m = w.read();
                Map<Character, String> f = m.fields();
                s.note("answer '" + m.type() + "' " + f.get('S') + " " + f.get('C') + " " + f.get('M'));
                s.note("then " + w.readToEof().length + " bytes and EOF");
            }
        }, "answer 'E' FATAL 08P01 old V2 protocol not supported", "then 0 bytes and EOF");
    }

    /** pgjdbc shows severity, SQLSTATE and text only: here every field of the pooler's own errors, on the wire. */
    @Test
    void poolerErrorsCarryTheSameFields() throws Exception {
        assertSameBehaviour(Ini.defaults().withoutWildcard(), s -> {
            s.wireLogin("unknown database", MD5, PgCluster.MD5_PASSWORD, Map.of("database", "x"));
            s.wireLogin("wrong password", MD5, "not-the-password", Map.of());
            s.wireLogin("unknown user", "no_such_user", "not-the-password", Map.of());
            s.wireLogin("unsupported startup parameter", MD5, PgCluster.MD5_PASSWORD, Map.of("work_mem", "1MB"));
            try (WireClient w = WireClient.open(s.port())) {
                w.sendRaw(protocol2Startup());
                s.note("protocol 2 startup -> " + w.read().fields());
            }
        }, "unknown database -> {S=FATAL, C=08P01, M=no such database: x}",
                "protocol 2 startup -> {S=FATAL, C=08P01, M=old V2 protocol not supported}");
    }

    /**
     * SHOW POOLS's client counts, as pgbouncer_exporter graphs them: a client is active from its login on, idle or in
     * a transaction, until its query waits for a server; the console's own pool counts the consoles. Only the columns
     * 1.18 shares with 1.25 are read.
     */
    @Test
    void showPoolsCountsIdleClientsAsActive() throws Exception {
        Ini ini = Ini.defaults().set("default_pool_size", "1").set("admin_users", "postgres");
        String pool = "pgsvc/" + MD5;
        assertSameBehaviour(ini, s -> {
            Connection console = s.connect("console", "pgbouncer", "postgres", "postgres", mode("simple"));
            List<WireClient> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    clients.add(WireClient.connect(s.port(), MD5, PgCluster.MD5_PASSWORD));
                }
                s.note("logged in: " + clientCounts(console));
                WireClient a = clients.get(0);
                a.query("BEGIN").orThrow();
                a.query("SELECT 1").orThrow();
                s.note("a in a transaction: " + clientCounts(console));
                clients.get(1).sendQuery("SELECT 2");
                Await.until(COUNTS_SETTLE, "b waits for the server a holds",
                        () -> clientCounts(console).get(pool).equals("2 active, 1 waiting"));
                s.note("b waits: " + clientCounts(console));
                a.query("COMMIT").orThrow();
                s.note("b: SELECT 2 -> " + clients.get(1).readResult(true).orThrow().values());
                s.note("idle again: " + clientCounts(console));
            } finally {
                for (WireClient c : clients) {
                    c.close();
                }
            }
            Await.until(COUNTS_SETTLE, "the clients are gone from the pool",
                    () -> clientCounts(console).get(pool).equals("0 active, 0 waiting"));
            s.note("closed: " + clientCounts(console));
        }, "logged in: {pgbouncer/pgbouncer=1 active, 0 waiting, " + pool + "=3 active, 0 waiting}",
                "b waits: {pgbouncer/pgbouncer=1 active, 0 waiting, " + pool + "=2 active, 1 waiting}",
                "idle again: {pgbouncer/pgbouncer=1 active, 0 waiting, " + pool + "=3 active, 0 waiting}");
    }

    /** SHOW POOLS's cl_active and cl_waiting of databases pgsvc and pgbouncer, by database/user. */
    private static Map<String, String> clientCounts(Connection console) throws SQLException {
        Map<String, String> counts = new TreeMap<>();
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW POOLS")) {
            while (rs.next()) {
                String database = rs.getString("database");
                if (database.equals("pgsvc") || database.equals("pgbouncer")) {
                    counts.put(database + "/" + rs.getString("user"),
                            rs.getInt("cl_active") + " active, " + rs.getInt("cl_waiting") + " waiting");
                }
            }
        }
        return counts;
    }

    /** A v2 StartupPacket: length 296, version 2.0, then database[64] user[32] options[64] unused[64] tty[64]. */
    private static byte[] protocol2Startup() {
        ByteBuffer v2 = ByteBuffer.allocate(296).putInt(296).putInt(2 << 16);
        v2.put("pgsvc".getBytes(StandardCharsets.US_ASCII));
        v2.position(8 + 64).put(MD5.getBytes(StandardCharsets.US_ASCII));
        return v2.array();
    }

    private static Properties mode(String preferQueryMode) {
        Properties p = new Properties();
        p.setProperty("preferQueryMode", preferQueryMode);
        return p;
    }

    private static int backendPid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * Runs {@code script} against PgBouncer, then against pgsvc, each from {@code ini}; checks that PgBouncer's
     * transcript has each of {@code expected} (a line that starts with it), then that both transcripts are equal.
     */
    private static void assertSameBehaviour(Ini ini, Script script, String... expected) throws Exception {
        List<String> bouncer;
        try (PgBouncerProcess pgbouncer = PgBouncerProcess.start(ini.text(), USERLIST)) {
            try {
                bouncer = Session.transcript(pgbouncer.port(), script);
            } catch (Exception | AssertionError e) {
                throw new AssertionError("the scenario failed against PgBouncer; its log:\n" + pgbouncer.log(), e);
            }
        }
        String pgbouncerSaid = String.join("\n", bouncer);
        for (String line : expected) {
            assertTrue(bouncer.stream().anyMatch(l -> l.startsWith(line)),
                    () -> "PgBouncer did not show '" + line + "', so the scenario does not test what it says:\n"
                            + pgbouncerSaid);
        }
        List<String> ours = onPgsvc(ini, script);
        assertEquals(pgbouncerSaid, String.join("\n", ours), "what a client saw: PgBouncer (expected) vs pgsvc");
    }

    private static List<String> onPgsvc(Ini ini, Script script) throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "pgsvc-diff-");
        try {
            Path userlist = dir.resolve("userlist.txt");
            Files.writeString(userlist, USERLIST);
            Path file = dir.resolve("pgbouncer.ini");
            // [pgbouncer] is the last section: these lines belong to it.
            Files.writeString(file, ini.text() + "listen_port = " + PoolerFixture.freePort() + "\n"
                    + "auth_file = " + userlist + "\n"
                    + "unix_socket_dir = " + dir + "\n");
            try (Pgsvc pgsvc = Pgsvc.start(file)) {
                return Session.transcript(pgsvc.port(), script);
            }
        } finally {
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (NoSuchFileException alreadyGone) {
                // nothing to delete
            }
        }
    }

    /** Client actions that note what they observe in a {@link Session}. */
    @FunctionalInterface
    private interface Script {
        void run(Session s) throws Exception;
    }

    /**
     * One pgbouncer.ini for both sides: [databases] pointing at the shared primary, then [pgbouncer]. Each side adds
     * what must differ (listen_port, auth_file's path, unix_socket_dir; PgBouncer also logfile and pidfile).
     */
    private static final class Ini {
        private final Map<String, String> settings = new LinkedHashMap<>();
        private boolean wildcard = true;

        static Ini defaults() {
            Ini ini = new Ini();
            ini.set("listen_addr", "127.0.0.1");
            ini.set("auth_type", "md5");
            ini.set("pool_mode", "transaction");
            ini.set("default_pool_size", "20");
            ini.set("max_client_conn", "100");
            ini.set("ignore_startup_parameters", "extra_float_digits");
            ini.set("server_tls_sslmode", "disable");
            return ini;
        }

        Ini set(String key, String value) {
            settings.put(key, value);
            return this;
        }

        /** Leaves out the `*` entry, so a database not listed is unknown. */
        Ini withoutWildcard() {
            wildcard = false;
            return this;
        }

        String text() {
            int primary = PgCluster.shared().primary().port();
            StringBuilder ini = new StringBuilder("[databases]\n");
            ini.append("pgsvc = host=127.0.0.1 port=").append(primary).append(" dbname=pgsvc\n");
            if (wildcard) {
                ini.append("* = host=127.0.0.1 port=").append(primary).append('\n');
            }
            ini.append("\n[pgbouncer]\n");
            settings.forEach((k, v) -> ini.append(k).append(" = ").append(v).append('\n'));
            return ini.toString();
        }
    }

    /** A client session against one pooler, and the transcript of what it saw. */
    private static final class Session implements AutoCloseable {
        private final int port;
        private final List<String> lines = new ArrayList<>();
        private final List<Connection> opened = new ArrayList<>();

        private Session(int port) {
            this.port = port;
        }

        static List<String> transcript(int port, Script script) throws Exception {
            try (Session s = new Session(port)) {
                script.run(s);
                return List.copyOf(s.lines);
            }
        }

        int port() {
            return port;
        }

        String url(String db) {
            return "jdbc:postgresql://127.0.0.1:" + port + "/" + db;
        }

        Properties properties(String user, String password, Properties extra) {
            Properties p = new Properties();
            p.putAll(extra);
            p.setProperty("user", user);
            p.setProperty("password", password);
            // 1.18 has no prepared-statement tracking: unnamed statements only (see the class comment).
            p.setProperty("prepareThreshold", "0");
            p.setProperty("connectTimeout", "20");
            p.setProperty("socketTimeout", "60");
            return p;
        }

        void note(String line) {
            lines.add(line);
        }

        /** A connection, or null when the login failed; either way noted. */
        Connection connect(String label, String db, String user, String password, Properties extra) {
            try {
                Connection c = DriverManager.getConnection(url(db), properties(user, password, extra));
                opened.add(c);
                note(label + " connect: ok");
                return c;
            } catch (SQLException e) {
                note(label + " connect: " + describe(e));
                return null;
            }
        }

        void sql(String label, Connection c, String sql) {
            try (Statement st = c.createStatement()) {
                List<String> results = new ArrayList<>();
                boolean isResultSet = st.execute(sql);
                while (true) {
                    if (isResultSet) {
                        try (ResultSet rs = st.getResultSet()) {
                            results.add(rows(rs));
                        }
                    } else if (st.getUpdateCount() >= 0) {
                        results.add("count " + st.getUpdateCount());
                    } else {
                        break;
                    }
                    isResultSet = st.getMoreResults();
                }
                note(label + ": " + sql + " -> " + String.join(", ", results) + warnings(st.getWarnings()));
            } catch (SQLException e) {
                note(label + ": " + sql + " -> " + describe(e));
            }
        }

        void prepared(String label, Connection c, String sql, Object... params) {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < params.length; i++) {
                    ps.setObject(i + 1, params[i]);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    note(label + ": " + sql + " -> " + rows(rs) + warnings(ps.getWarnings()));
                }
            } catch (SQLException e) {
                note(label + ": " + sql + " -> " + describe(e));
            }
        }

        /** Setup that is not part of the comparison (its notices depend on what an earlier run left behind). */
        void quietly(Connection c, String sql) throws SQLException {
            try (Statement st = c.createStatement()) {
                st.execute(sql);
            }
        }

        void copyIn(String label, Connection c, String sql, String data) {
            try {
                long n = c.unwrap(PGConnection.class).getCopyAPI().copyIn(sql, new StringReader(data));
                note(label + ": " + sql + " -> " + n + " rows");
            } catch (SQLException e) {
                note(label + ": " + sql + " -> " + describe(e));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        void copyOut(String label, Connection c, String sql) {
            try {
                StringWriter out = new StringWriter();
                c.unwrap(PGConnection.class).getCopyAPI().copyOut(sql, out);
                note(label + ": " + sql + " -> \"" + out.toString().replace("\t", "\\t").replace("\n", "\\n")
                        + "\"");
            } catch (SQLException e) {
                note(label + ": " + sql + " -> " + describe(e));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** A login on a plain socket, noting how it ended: every field of an ErrorResponse, or ReadyForQuery. */
        void wireLogin(String label, String user, String password, Map<String, String> extra) throws IOException {
            try (WireClient w = WireClient.open(port)) {
                List<WireClient.Message> login = w.login(user, password, extra);
                WireClient.Message last = login.get(login.size() - 1);
                note(label + " -> " + (last.type() == 'E' ? last.fields().toString() : "'" + last.type() + "'"));
            }
        }

        /** Whether the connection still runs a query after what happened to it. */
        void fate(String label, Connection c) {
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
                rs.next();
                note(label + " fate: usable");
            } catch (SQLException e) {
                note(label + " fate: " + describe(e));
            }
        }

        @Override
        public void close() throws SQLException {
            for (Connection c : opened) {
                c.close();
            }
        }

        private static String rows(ResultSet rs) throws SQLException {
            int columns = rs.getMetaData().getColumnCount();
            List<String> rows = new ArrayList<>();
            while (rs.next()) {
                List<String> values = new ArrayList<>();
                for (int i = 1; i <= columns; i++) {
                    String v = rs.getString(i);
                    values.add(v == null ? "NULL" : v);
                }
                rows.add("[" + String.join("|", values) + "]");
            }
            return rows.isEmpty() ? "no rows" : String.join(" ", rows);
        }

        private static String warnings(SQLWarning w) {
            StringBuilder out = new StringBuilder();
            for (; w != null; w = w.getNextWarning()) {
                ServerErrorMessage m = w instanceof PSQLWarning pw ? pw.getServerErrorMessage() : null;
                out.append(" + ").append(m == null ? "client warning " + w.getMessage() : server(m));
            }
            return out.toString();
        }

        /** A server's (or pooler's) ErrorResponse in full; a client-side failure by its SQLSTATE only. */
        private static String describe(SQLException e) {
            ServerErrorMessage m = e instanceof PSQLException pe ? pe.getServerErrorMessage() : null;
            return m == null ? "client error " + e.getSQLState() : server(m);
        }

        private static String server(ServerErrorMessage m) {
            String s = m.getSeverity() + " " + m.getSQLState() + " " + m.getMessage();
            if (m.getDetail() != null) {
                s += " (detail: " + m.getDetail() + ")";
            }
            if (m.getHint() != null) {
                s += " (hint: " + m.getHint() + ")";
            }
            return s;
        }
    }
}
