package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * The console's commands and the SHOWs that list connections, as operators and exporters use them: every SHOW with
 * PgBouncer 1.25's columns and types, clients and servers under a known load, KILL, KILL_CLIENT, DISABLE/ENABLE,
 * RECONNECT and WAIT_CLOSE, SET, and what a stats user may not do. Each test uses a database of its own (all of
 * them the same PostgreSQL database), so that one test's KILL or DISABLE leaves the others alone.
 */
@ExtendWith(PgClusterExtension.class)
class ConsoleCommandsTest {
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final String ADMIN = PgCluster.SUPERUSER;
    private static final String ADMIN_PASSWORD = PgCluster.SUPERUSER_PASSWORD;
    private static final String STATS = PgCluster.SCRAM_USER;
    private static final String STATS_PASSWORD = PgCluster.SCRAM_PASSWORD;
    private static final String USER = PgCluster.MD5_USER;
    private static final String PASSWORD = PgCluster.MD5_PASSWORD;
    private static final String SOCKET_COLUMNS = "type text, user text, database text, replication text, state text, "
            + "addr text, port int4, local_addr text, local_port int4, connect_time text, request_time text, "
            + "wait int4, wait_us int4, close_needed int4, ptr text, link text, remote_pid int4, tls text, "
            + "application_name text, prepared_statements int4, id int4";
    private static final String TIMESTAMP = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\S+";

    private static PoolerFixture pgsvc;

    @BeforeAll
    static void start() {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "5");
        settings.put("admin_users", ADMIN);
        settings.put("stats_users", STATS);
        int port = PgCluster.shared().primary().port();
        StringBuilder databases = new StringBuilder();
        for (String db : List.of("clients_db", "kill_db", "killclient_db", "disable_db", "reconnect_db")) {
            databases.append(db).append(" = host=127.0.0.1 port=").append(port).append(" dbname=pgsvc")
                    .append(db.equals("clients_db") ? " pool_size=1" : "").append('\n');
        }
        pgsvc = PoolerFixture.start(settings, databases.toString());
    }

    @AfterAll
    static void stop() {
        pgsvc.close();
    }

    // ---- a console client over the wire, so that column types and notices can be checked -------------------------

    /** What one console command answered: columns with their type OIDs, rows, notices, the tag or the error. */
    record Reply(List<String> columns, List<Integer> types, List<List<String>> rows,
                 List<Map<Character, String>> notices, String tag, Map<Character, String> error) {

        /** Rows as column name to value. */
        List<Map<String, String>> maps() {
            List<Map<String, String>> out = new ArrayList<>();
            for (List<String> row : rows) {
                Map<String, String> m = new LinkedHashMap<>();
                for (int i = 0; i < columns.size(); i++) {
                    m.put(columns.get(i), row.get(i));
                }
                out.add(m);
            }
            return out;
        }

        List<Map<String, String>> where(String column, String value) {
            return maps().stream().filter(m -> value.equals(m.get(column))).toList();
        }

        /** "name type, ..." with PostgreSQL's type names, to compare with PgBouncer's column list. */
        String signature() {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < columns.size(); i++) {
                out.add(columns.get(i) + " " + switch (types.get(i)) {
                    case 25 -> "text";
                    case 23 -> "int4";
                    case 20 -> "int8";
                    case 17 -> "bytea";
                    default -> "oid" + types.get(i);
                });
            }
            return String.join(", ", out);
        }

        Reply ok() {
            assertNull(error, () -> "console error: " + error);
            return this;
        }

        String message() {
            assertNotNull(error, () -> "expected an error, got " + tag + " " + rows);
            return error.get('M');
        }
    }

    private static Reply console(String user, String password, String sql) {
        try (WireClient c = WireClient.open(pgsvc.port())) {
            List<WireClient.Message> login = c.login(user, password, Map.of("database", "pgbouncer"));
            WireClient.Message last = login.get(login.size() - 1);
            assertEquals('Z', last.type(), () -> "console login failed: " + last.fields());
            c.sendQuery(sql);
            return readReply(c);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Reply admin(String sql) {
        return console(ADMIN, ADMIN_PASSWORD, sql);
    }

    private static Reply readReply(WireClient c) throws IOException {
        List<String> columns = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        List<List<String>> rows = new ArrayList<>();
        List<Map<Character, String>> notices = new ArrayList<>();
        String tag = null;
        Map<Character, String> error = null;
        while (true) {
            WireClient.Message m = c.read();
            ByteBuffer b = ByteBuffer.wrap(m.body());
            switch (m.type()) {
                case 'T' -> {
                    int n = b.getShort();
                    for (int i = 0; i < n; i++) {
                        columns.add(cstring(b));
                        b.getInt();
                        b.getShort();
                        types.add(b.getInt());
                        b.getShort();
                        b.getInt();
                        b.getShort();
                    }
                }
                case 'D' -> {
                    int n = b.getShort();
                    List<String> row = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        int len = b.getInt();
                        row.add(len < 0 ? null : new String(m.body(), b.position(), len, StandardCharsets.UTF_8));
                        b.position(b.position() + Math.max(len, 0));
                    }
                    rows.add(row);
                }
                case 'N' -> notices.add(m.fields());
                case 'C' -> tag = cstring(b);
                case 'E' -> error = m.fields();
                case 'Z' -> {
                    return new Reply(columns, types, rows, notices, tag, error);
                }
                default -> {
                }
            }
        }
    }

    private static String cstring(ByteBuffer b) {
        int start = b.position();
        while (b.get() != 0) {
            // up to the terminating NUL
        }
        return new String(b.array(), start, b.position() - start - 1, StandardCharsets.UTF_8);
    }

    private static Connection connect(String db, String applicationName) throws SQLException {
        Properties p = new Properties();
        p.setProperty("ApplicationName", applicationName);
        return pgsvc.connect(db, USER, PASSWORD, p);
    }

    private static int backendPid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static List<Map<String, String>> clientsOf(String db) {
        return admin("SHOW CLIENTS").ok().where("database", db);
    }

    // ---- the tests ------------------------------------------------------------------------------------------------

    @Test
    void everyShowHasPgBouncersColumnsAndTypes() {
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("CLIENTS", SOCKET_COLUMNS);
        expected.put("SERVERS", SOCKET_COLUMNS);
        String debug = ", recv_pos int4, pkt_pos int4, pkt_remain int4, send_pos int4, send_remain int4, "
                + "pkt_avail int4, send_avail int4";
        expected.put("SOCKETS", SOCKET_COLUMNS + debug);
        expected.put("ACTIVE_SOCKETS", SOCKET_COLUMNS + debug);
        expected.put("USERS", "name text, pool_size text, reserve_pool_size text, pool_mode text, "
                + "max_user_connections int4, current_connections int4, max_user_client_connections int4, "
                + "current_client_connections int4");
        expected.put("LISTS", "list text, items int4");
        expected.put("MEM", "name text, size int4, used int4, free int4, memtotal int4");
        expected.put("PEERS", "peer_id int4, host text, port int4, pool_size int4");
        expected.put("PEER_POOLS", "peer_id int4, cl_active_cancel_req int4, cl_waiting_cancel_req int4, "
                + "sv_active_cancel int4, sv_login int4");
        expected.put("DNS_HOSTS", "hostname text, ttl int8, addrs text");
        expected.put("DNS_ZONES", "zonename text, serial int8, count int4");
        expected.put("FDS", "fd int4, task text, user text, database text, addr text, port int4, cancel int8, "
                + "link int4, client_encoding text, std_strings text, datestyle text, timezone text, password text, "
                + "scram_client_key bytea, scram_server_key bytea");
        for (Map.Entry<String, String> e : expected.entrySet()) {
            Reply r = admin("SHOW " + e.getKey()).ok();
            assertEquals(e.getValue(), r.signature(), "SHOW " + e.getKey());
            assertEquals("SHOW", r.tag(), "SHOW " + e.getKey());
            if (!e.getKey().equals("FDS")) {
                assertEquals(e.getValue(), console(STATS, STATS_PASSWORD, "show " + e.getKey().toLowerCase() + ";")
                        .ok().signature(), "a stats user's SHOW " + e.getKey());
            }
        }
        assertEquals("admin access needed", console(STATS, STATS_PASSWORD, "SHOW FDS").message());

        List<String> lists = admin("SHOW LISTS").ok().maps().stream().map(m -> m.get("list")).toList();
        assertEquals(List.of("databases", "users", "peers", "pools", "peer_pools", "free_clients", "used_clients",
                "login_clients", "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries",
                "dns_pending"), lists);
        assertFalse(admin("SHOW MEM").ok().where("name", "client_cache").isEmpty());
        Map<String, String> md5 = admin("SHOW USERS").ok().where("name", USER).get(0);
        assertEquals("", md5.get("pool_size"), "no [users] pool_size: empty, as PgBouncer prints it");
        assertNull(md5.get("pool_mode"));
        assertEquals(1, admin("SHOW USERS").where("name", "pgbouncer").size());
    }

    @Test
    void helpIsPgBouncersNotice() {
        Reply help = console(STATS, STATS_PASSWORD, "SHOW HELP").ok();
        assertEquals("SHOW", help.tag());
        assertEquals(1, help.notices().size());
        Map<Character, String> notice = help.notices().get(0);
        assertEquals("Console usage", notice.get('M'));
        assertEquals("00000", notice.get('C'));
        assertTrue(notice.get('D').startsWith("\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"),
                notice.get('D'));
        assertTrue(notice.get('D').contains("\n\tKILL_CLIENT <client_id>\n"), notice.get('D'));
        assertTrue(notice.get('D').endsWith("\n\tWAIT_CLOSE [<db>]"), notice.get('D'));
        assertEquals("invalid command 'SHOW NOTHING', use SHOW HELP;", admin("SHOW NOTHING").message());
        assertEquals("invalid command 'FROB', use SHOW HELP;", admin("FROB").message());
        assertEquals("UTF-8", admin("SHOW client_encoding").ok().rows().get(0).get(0));
    }

    @Test
    void connectedClientsAndTheirLinkedServerAreListed() throws Exception {
        List<Connection> idle = new ArrayList<>();
        try (Connection busy = connect("clients_db", "console-busy")) {
            for (int i = 0; i < 3; i++) {
                idle.add(connect("clients_db", "console-idle"));
            }
            busy.setAutoCommit(false);
            int pid = backendPid(busy);

            List<Map<String, String>> clients = clientsOf("clients_db");
            assertEquals(4, clients.size(), clients::toString);
            for (Map<String, String> c : clients) {
                assertEquals("C", c.get("type"));
                assertEquals(USER, c.get("user"));
                assertEquals("none", c.get("replication"));
                assertEquals("127.0.0.1", c.get("addr"));
                assertTrue(Integer.parseInt(c.get("port")) > 0, c::toString);
                assertEquals(Integer.toString(pgsvc.port()), c.get("local_port"));
                assertTrue(c.get("connect_time").matches(TIMESTAMP), c::toString);
                assertTrue(c.get("request_time").matches(TIMESTAMP), c::toString);
                assertEquals("0", c.get("close_needed"));
                assertEquals("0x" + Long.toHexString(Long.parseLong(c.get("id"))), c.get("ptr"));
            }
            Map<String, String> linked = clients.stream()
                    .filter(c -> c.get("application_name").equals("console-busy")).findFirst().orElseThrow();
            assertEquals("active", linked.get("state"));
            for (Map<String, String> c : clients) {
                if (c != linked) {
                    assertEquals("console-idle", c.get("application_name"));
                    assertEquals("idle", c.get("state"), "no server between transactions: idle, as 1.25 shows it");
                    assertEquals("", c.get("link"));
                }
            }

            List<Map<String, String>> servers = admin("SHOW SERVERS").ok().where("database", "clients_db");
            assertEquals(1, servers.size(), servers::toString);
            Map<String, String> server = servers.get(0);
            assertEquals("S", server.get("type"));
            assertEquals("active", server.get("state"));
            assertEquals(USER, server.get("user"));
            assertEquals(Integer.toString(pid), server.get("remote_pid"), "the backend pid PostgreSQL reports");
            assertEquals(linked.get("ptr"), server.get("link"));
            assertEquals(server.get("ptr"), linked.get("link"));
            assertEquals(Integer.toString(PgCluster.shared().primary().port()), server.get("port"));

            // pool_size=1 and the one server is busy: another client's query waits, and says so.
            Connection waiter = idle.get(0);
            CompletableFuture<Integer> waited = CompletableFuture.supplyAsync(() -> {
                try {
                    return backendPid(waiter);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            Await.until(DEADLINE, "a client waits", () -> clientsOf("clients_db").stream()
                    .anyMatch(c -> c.get("state").equals("waiting")));
            assertEquals(1, admin("SHOW POOLS").ok().where("database", "clients_db").stream()
                    .mapToInt(m -> Integer.parseInt(m.get("cl_waiting"))).sum());
            busy.commit();
            assertEquals(pid, waited.get(30, TimeUnit.SECONDS), "the waiter got the one server once it was free");

            Map<String, String> md5 = admin("SHOW USERS").ok().where("name", USER).get(0);
            assertTrue(Integer.parseInt(md5.get("current_client_connections")) >= 4, md5::toString);
            List<Map<String, String>> sockets = admin("SHOW SOCKETS").ok().where("database", "clients_db");
            assertTrue(sockets.stream().anyMatch(s -> s.get("state").equals("cl_active")), sockets::toString);
            assertTrue(sockets.stream().anyMatch(s -> s.get("state").equals("sv_idle")), sockets::toString);
        } finally {
            for (Connection c : idle) {
                c.close();
            }
        }
        Await.until(DEADLINE, "closed clients leave SHOW CLIENTS", () -> clientsOf("clients_db").isEmpty());
    }

    @Test
    void killClosesTheDatabasesClientsAndPausesItUntilResume() throws Exception {
        try (Connection bystander = connect(PgCluster.DATABASE, "console-bystander");
             Connection victim = connect("kill_db", "console-victim");
             WireClient wire = WireClient.open(pgsvc.port())) {
            List<WireClient.Message> login = wire.login(USER, PASSWORD, Map.of("database", "kill_db"));
            assertEquals('Z', login.get(login.size() - 1).type());
            backendPid(victim);
            Await.until(DEADLINE, "both kill_db clients listed", () -> clientsOf("kill_db").size() == 2);

            assertEquals("cannot kill admin db: pgbouncer", admin("KILL pgbouncer").message());
            assertEquals("KILL", admin("KILL kill_db").ok().tag());

            String goodbye = new String(wire.readToEof(), StandardCharsets.UTF_8);
            assertTrue(goodbye.contains("database removed"), goodbye);
            assertThrows(SQLException.class, () -> backendPid(victim));
            Await.until(DEADLINE, "kill_db has no client left", () -> clientsOf("kill_db").isEmpty());
            assertEquals("1", admin("SHOW DATABASES").ok().where("name", "kill_db").get(0).get("paused"));
            assertTrue(backendPid(bystander) > 0, "other databases are untouched");
        }
        assertEquals("RESUME", admin("RESUME kill_db").ok().tag());
        try (Connection again = connect("kill_db", "console-again")) {
            assertTrue(backendPid(again) > 0);
        }
    }

    @Test
    void killClientClosesExactlyThatClient() throws Exception {
        try (Connection first = connect("killclient_db", "console-first");
             Connection second = connect("killclient_db", "console-second")) {
            List<Map<String, String>> clients = clientsOf("killclient_db");
            assertEquals(2, clients.size(), clients::toString);
            String id = clients.stream().filter(c -> c.get("application_name").equals("console-first"))
                    .findFirst().orElseThrow().get("id");

            assertEquals("invalid client pointer supplied", admin("KILL_CLIENT abc").message());
            assertEquals("client not found", admin("KILL_CLIENT 987654321").message());
            assertEquals("KILL_CLIENT", admin("KILL_CLIENT " + id).ok().tag());

            Await.until(DEADLINE, "only the second client is left", () -> {
                List<Map<String, String>> left = clientsOf("killclient_db");
                return left.size() == 1 && left.get(0).get("application_name").equals("console-second");
            });
            SQLException gone = assertThrows(SQLException.class, () -> backendPid(first));
            assertNotNull(gone.getMessage());
            assertTrue(backendPid(second) > 0, "the other client carries on");
        }
    }

    @Test
    void disableRefusesNewLoginsAndEnableLetsThemInAgain() throws Exception {
        try (Connection before = connect("disable_db", "console-before")) {
            assertEquals("a database is required", admin("DISABLE").message());
            assertEquals("cannot disable admin db: pgbouncer", admin("DISABLE pgbouncer").message());
            assertEquals("DISABLE", admin("DISABLE disable_db").ok().tag());
            assertEquals("1", admin("SHOW DATABASES").ok().where("name", "disable_db").get(0).get("disabled"));

            try (WireClient refused = WireClient.open(pgsvc.port())) {
                List<WireClient.Message> login = refused.login(USER, PASSWORD, Map.of("database", "disable_db"));
                WireClient.Message last = login.get(login.size() - 1);
                assertEquals('E', last.type());
                assertEquals("FATAL", last.fields().get('S'));
                assertEquals("08P01", last.fields().get('C'));
                assertEquals("database \"disable_db\" is disabled", last.fields().get('M'));
            }
            assertTrue(backendPid(before) > 0, "a client already in stays in");

            assertEquals("ENABLE", admin("ENABLE disable_db").ok().tag());
            assertEquals("0", admin("SHOW DATABASES").ok().where("name", "disable_db").get(0).get("disabled"));
            try (Connection after = connect("disable_db", "console-after")) {
                assertTrue(backendPid(after) > 0);
            }
        }
    }

    @Test
    void reconnectReplacesServersAndWaitCloseWaitsForTheBusyOne() throws Exception {
        try (Connection c = connect("reconnect_db", "console-reconnect");
             Connection busy = connect("reconnect_db", "console-reconnect-busy")) {
            int first = backendPid(c);
            assertEquals(first, backendPid(c), "one client, one idle server reused");
            assertEquals("RECONNECT", admin("RECONNECT reconnect_db").ok().tag());
            int second = backendPid(c);
            assertNotEquals(first, second, "the idle server was closed and a new one opened");

            busy.setAutoCommit(false);
            int held = backendPid(busy);
            assertEquals("RECONNECT", admin("RECONNECT").ok().tag());
            Map<String, String> marked = admin("SHOW SERVERS").ok().where("remote_pid", Integer.toString(held))
                    .get(0);
            assertEquals("1", marked.get("close_needed"));
            assertEquals("active", marked.get("state"));
            assertEquals(held, backendPid(busy), "a server in use is not taken away");

            CompletableFuture<Reply> waitClose = CompletableFuture.supplyAsync(() -> admin("WAIT_CLOSE reconnect_db"));
            busy.commit();
            assertEquals("WAIT_CLOSE", waitClose.get(30, TimeUnit.SECONDS).ok().tag());
            assertTrue(admin("SHOW SERVERS").ok().where("remote_pid", Integer.toString(held)).isEmpty(),
                    "closed when it was released");
            assertNotEquals(held, backendPid(busy));
            assertEquals("cannot wait in admin db: pgbouncer", admin("WAIT_CLOSE pgbouncer").message());
        }
    }

    @Test
    void setChangesTheRunningConfiguration() {
        try {
            assertEquals("SET default_pool_size=9", admin("SET default_pool_size = 9").ok().tag());
            Map<String, String> row = admin("SHOW CONFIG").ok().where("key", "default_pool_size").get(0);
            assertEquals("9", row.get("value"));
            assertEquals("9", admin("SHOW DATABASES").ok().where("name", PgCluster.DATABASE).get(0)
                    .get("pool_size"), "applied to the live configuration");
            assertEquals("SET query_wait_timeout=45", admin("set query_wait_timeout to '45';").ok().tag());
            assertEquals("45", admin("SHOW CONFIG").ok().where("key", "query_wait_timeout").get(0).get("value"));
        } finally {
            admin("SET default_pool_size = 5").ok();
            admin("SET query_wait_timeout = 120").ok();
        }
        assertEquals("SET failed", admin("SET no_such_setting = 1").message(), "unknown key");
        assertEquals("SET failed", admin("SET listen_port = 7000").message(), "needs a restart");
        assertEquals("SET failed", admin("SET default_pool_size = on").message(), "not a number");
        Reply ignored = console(STATS, STATS_PASSWORD, "SET client_encoding = 'UTF8'").ok();
        assertEquals("SET", ignored.tag());
        assertEquals("SET ignored", ignored.notices().get(0).get('M'));
        assertEquals("5", admin("SHOW CONFIG").ok().where("key", "default_pool_size").get(0).get("value"));
    }

    @Test
    void statsUsersMayLookButNotAct() {
        for (String command : List.of("KILL", "KILL kill_db", "KILL_CLIENT 1", "PAUSE", "RESUME", "DISABLE pgsvc",
                "ENABLE pgsvc", "RECONNECT", "WAIT_CLOSE", "RELOAD", "SUSPEND", "SHUTDOWN",
                "SHUTDOWN WAIT_FOR_CLIENTS", "SET default_pool_size = 1", "SHOW FDS")) {
            assertEquals("admin access needed", console(STATS, STATS_PASSWORD, command).message(), command);
        }
        assertEquals("5", admin("SHOW CONFIG").ok().where("key", "default_pool_size").get(0).get("value"));
        assertFalse(console(STATS, STATS_PASSWORD, "SHOW CLIENTS").ok().columns().isEmpty());
    }

    // ---- RELOAD and SHUTDOWN reach the process through its hook: a pgsvc process of their own -------------------

    /** A pgsvc process started from the command line (as SignalsTest does), its ini file and its log. */
    private record Running(Process process, Path ini, Path log, int port) implements AutoCloseable {
        String logText() throws IOException {
            return Files.readString(log, StandardCharsets.UTF_8);
        }

        WireClient console() throws IOException {
            WireClient c = WireClient.open(port);
            List<WireClient.Message> login = c.login(ADMIN, ADMIN_PASSWORD, Map.of("database", "pgbouncer"));
            assertEquals('Z', login.get(login.size() - 1).type(), () -> "console login: " + login);
            return c;
        }

        Reply command(WireClient console, String sql) throws IOException {
            console.sendQuery(sql);
            return readReply(console);
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    private static String processIni(Path dir, int port, String extraDatabases) {
        return "[databases]\npgsvc = host=127.0.0.1 port=" + PgCluster.shared().primary().port() + " dbname=pgsvc\n"
                + extraDatabases + "\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + port
                + "\nunix_socket_dir =\nauth_type = md5\nauth_file = " + dir.resolve("userlist.txt")
                + "\npool_mode = transaction\nadmin_users = " + ADMIN
                + "\nignore_startup_parameters = extra_float_digits\n";
    }

    private static Running startProcess() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-console");
        Files.writeString(dir.resolve("userlist.txt"), PoolerFixture.USERLIST);
        int port = PoolerFixture.freePort();
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, processIni(dir, port, ""));
        Path log = dir.resolve("out.log");
        Process p = new ProcessBuilder(JarTest.command(ini.toString())).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        Running r = new Running(p, ini, log, port);
        Await.until(Duration.ofSeconds(60), "pgsvc listens", () -> !p.isAlive() || r.logText().contains("process up"));
        assertTrue(p.isAlive(), r.logText());
        return r;
    }

    @Test
    void reloadAndShutdownWaitForClientsGoToTheProcess() throws Exception {
        try (Running r = startProcess();
             WireClient console = r.console();
             Connection client = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.port()
                     + "/pgsvc?prepareThreshold=0", USER, PASSWORD)) {
            Files.writeString(r.ini(), processIni(r.ini().getParent(), r.port(), "added = host=127.0.0.1 port="
                    + PgCluster.shared().primary().port() + " dbname=pgsvc\n"));
            assertEquals("RELOAD", r.command(console, "RELOAD").ok().tag());
            try (Connection added = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.port()
                    + "/added?prepareThreshold=0", USER, PASSWORD)) {
                assertTrue(backendPid(added) > 0, "the reloaded file's database is there");
            }
            Files.writeString(r.ini(), "[pgbouncer]\nno_such_setting = 1\n");
            Reply failed = r.command(console, "RELOAD");
            assertEquals("RELOAD failed, see logs for additional details", failed.message());
            assertEquals("F0000", failed.error().get('C'));

            assertEquals("SHUTDOWN", r.command(console, "SHUTDOWN WAIT_FOR_CLIENTS").ok().tag());
            assertThrows(IOException.class, () -> WireClient.open(r.port()).close(), "no longer accepting");
            assertEquals("pooler is shutting down", r.command(console, "RESUME").message());
            assertTrue(backendPid(client) > 0, "the connected client is still served");
            assertTrue(r.process().isAlive(), "a client is still connected");
            client.close();
            assertTrue(r.process().waitFor(60, TimeUnit.SECONDS), r.logText());
            assertEquals(0, r.process().exitValue());
            assertTrue(r.logText().contains("SHUTDOWN WAIT_FOR_CLIENTS command issued"), r.logText());
        }
    }

    @Test
    void shutdownExitsAtOnceWithoutAnswering() throws Exception {
        try (Running r = startProcess(); WireClient console = r.console()) {
            console.sendQuery("SHUTDOWN");
            String before = new String(console.readToEof(), StandardCharsets.ISO_8859_1);
            assertFalse(before.contains("SHUTDOWN"), "PgBouncer sends no reply to SHUTDOWN: " + before);
            assertTrue(r.process().waitFor(60, TimeUnit.SECONDS), r.logText());
            assertEquals(0, r.process().exitValue());
        }
    }

    @Test
    void suspendIsRefusedWithAReason() {
        assertEquals("invalid command 'SUSPEND now', use SHOW HELP;", admin("SUSPEND now").message());
        assertTrue(admin("SUSPEND").message().startsWith("SUSPEND is not supported"));
    }
}
