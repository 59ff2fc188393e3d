package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.AuthFile;
import pgsvc.router.Pgsvc;
import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.PgServer;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * Pigsty's production pgbouncer setup, loaded unchanged: the files under {@code src/test/resources/pigsty/} are what
 * Pigsty's templates (roles/pgsql/templates/pgbouncer.ini, .database, .useropts, .hba and pgb-user) render for a
 * primary pg-meta-1 with the default roles and HBA rules and one database {@code meta} with every pool option. Only
 * what must point at this machine is rewritten: the /etc/pgbouncer, /run/postgresql and log paths, listen_port, and
 * the database's {@code host=/var/run/postgresql}, which becomes the test primary's socket directory and port.
 * <p>The roles are created on the primary with the very SCRAM secrets of userlist.txt, so the file is what
 * {@code pgb-user AUTO} would have fetched from pg_authid.
 */
@ExtendWith(PgClusterExtension.class)
class PigstyTemplateTest {
    private static final String TEMPLATE = "/pigsty/";
    private static final String ETC_DIR = "etc/pgbouncer";
    private static final String RUN_DIR = "run/postgresql";
    private static final String LOG_DIR = "pg/log/pgbouncer";
    private static final String DBA = "dbuser_dba";
    private static final String DBA_PASSWORD = "DBUser.DBA";
    private static final String MONITOR = "dbuser_monitor";
    private static final String MONITOR_PASSWORD = "DBUser.Monitor";
    private static final String META = "dbuser_meta";
    private static final String META_PASSWORD = "DBUser.Meta";
    private static final String DATABASE = "meta";
    /** The OS user the Pigsty HBA's {@code local pgbouncer postgres peer} line admits. */
    private static final String DBSU = "postgres";
    private static final String OS_USER = System.getProperty("user.name");
    private static final int AUTH_SASL = 10;
    private static final Duration PROCESS_DEADLINE = Duration.ofSeconds(60);

    /** The template's settings that pgsvc may name as accepted but not applied; any other warning fails the test. */
    private static final Set<String> MAY_BE_UNAPPLIED = Set.of("application_name_add_host", "client_tls_sslmode",
            "client_tls_cert_file", "client_tls_key_file", "client_tls_ca_file");
    private static final Pattern NOT_APPLIED = Pattern.compile("setting (\\S+) is accepted but not applied.*");

    private static Path base;
    private static Path runDir;
    private static int port;
    private static Pgsvc pgsvc;
    private static List<ILoggingEvent> startupLog;

    @BeforeAll
    static void renderAndStart() throws Exception {
        base = Files.createTempDirectory("pigsty");
        port = PoolerFixture.freePort();
        Path ini = render(base, port);
        runDir = base.resolve(RUN_DIR);
        createRolesAndDatabase(AuthFile.load(ini.resolveSibling("userlist.txt")));

        Logger logger = (Logger) LoggerFactory.getLogger("pgsvc");
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        String thread = Thread.currentThread().getName();
        try {
            pgsvc = Pgsvc.start(ini);
        } finally {
            logger.detachAppender(appender);
        }
        startupLog = appender.list.stream().filter(e -> e.getThreadName().equals(thread)).toList();
    }

    /**
     * Writes the template's files under {@code base} as Pigsty lays them out (etc/pgbouncer, run/postgresql,
     * pg/log/pgbouncer), pointed at the test primary and {@code listenPort}; returns pgbouncer.ini.
     */
    private static Path render(Path base, int listenPort) throws IOException {
        PgServer primary = PgCluster.shared().primary();
        Path etc = Files.createDirectories(base.resolve(ETC_DIR));
        Path run = Files.createDirectories(base.resolve(RUN_DIR));
        Path log = Files.createDirectories(base.resolve(LOG_DIR));
        // The dbsu's psql has to reach the socket, as /run/postgresql lets it on a Pigsty node.
        for (Path p : List.of(base, run.getParent(), run)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        String ini = template("pgbouncer.ini");
        ini = replace(ini, "/etc/pgbouncer/", etc + "/", 5);
        ini = replace(ini, "/run/postgresql", run.toString(), 2);
        ini = replace(ini, "/pg/log/pgbouncer", log.toString(), 1);
        ini = replace(ini, "listen_port                 = 6432", "listen_port                 = " + listenPort, 1);
        Files.writeString(etc.resolve("database.txt"), replace(template("database.txt"),
                "host=/var/run/postgresql", "host=" + primary.socketDir() + " port=" + primary.port(), 1));
        for (String name : List.of("useropts.txt", "pgb_hba.conf", "userlist.txt")) {
            Files.writeString(etc.resolve(name), template(name));
        }
        return Files.writeString(etc.resolve("pgbouncer.ini"), ini);
    }

    @AfterAll
    static void stop() throws IOException {
        if (pgsvc != null) {
            pgsvc.close();
        }
        deleteTree(base);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (dir == null || Files.notExists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static String template(String name) throws IOException {
        try (InputStream in = PigstyTemplateTest.class.getResourceAsStream(TEMPLATE + name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + TEMPLATE + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Replaces {@code from}, which must occur exactly {@code times} times, so that a drifted template fails here. */
    private static String replace(String text, String from, String to, int times) {
        int count = text.split(Pattern.quote(from), -1).length - 1;
        if (count != times) {
            throw new IllegalStateException("expected " + times + " of \"" + from + "\" in the template, found "
                    + count);
        }
        return text.replace(from, to);
    }

    /** Pigsty's roles (pg_default_roles, and dbuser_meta from pg_users) with the userlist's secrets, and db meta. */
    private static void createRolesAndDatabase(AuthFile userlist) throws SQLException {
        PgServer primary = PgCluster.shared().primary();
        try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
            Map<String, String> roles = Map.of(DBA, "SUPERUSER", MONITOR, "IN ROLE pg_monitor", META, "");
            for (Map.Entry<String, String> role : roles.entrySet()) {
                String secret = userlist.secret(role.getKey());
                if (!exists(c, "SELECT 1 FROM pg_roles WHERE rolname = ?", role.getKey())) {
                    st.execute("CREATE ROLE " + role.getKey() + " LOGIN " + role.getValue());
                }
                // PostgreSQL stores a SCRAM secret given as the password verbatim.
                st.execute("ALTER ROLE " + role.getKey() + " PASSWORD '" + secret + "'");
            }
            if (!exists(c, "SELECT 1 FROM pg_database WHERE datname = ?", DATABASE)) {
                st.execute("CREATE DATABASE " + DATABASE);
            }
            st.execute("GRANT ALL ON DATABASE " + DATABASE + " TO " + META);
            try (ResultSet rs = st.executeQuery("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('"
                    + DBA + "', '" + MONITOR + "', '" + META + "')")) {
                while (rs.next()) {
                    assertEquals(userlist.secret(rs.getString(1)), rs.getString(2),
                            "userlist.txt holds what pgb-user AUTO reads from pg_authid");
                }
            }
        }
        try (Connection c = primary.connect(DATABASE, PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD);
             Statement st = c.createStatement()) {
            st.execute("GRANT ALL ON SCHEMA public TO " + META);
            st.execute("DROP TABLE IF EXISTS pigsty_it");
            st.execute("CREATE TABLE pigsty_it (id int PRIMARY KEY, via text)");
            st.execute("ALTER TABLE pigsty_it OWNER TO " + META);
        }
    }

    private static boolean exists(Connection c, String sql, String arg) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, arg);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private static Connection jdbc(String user, String password, Properties extra) throws SQLException {
        Properties p = new Properties();
        p.putAll(extra);
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("connectTimeout", "20");
        p.setProperty("socketTimeout", "60");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE, p);
    }

    private static Connection jdbc(String user, String password) throws SQLException {
        return jdbc(user, password, new Properties());
    }

    private static ProcResult tcpPsql(String user, String password, String db, String sql) {
        return Tools.psql(port, user, password, db, sql);
    }

    private static ProcResult unixPsql(String user, String password, String db, String sql) {
        return Tools.psqlArgs(password, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", runDir.toString(),
                "-p", Integer.toString(port), "-U", user, "-d", db, "-c", sql);
    }

    /** psql over the Unix socket, no password, run by OS user {@code osUser}: ourselves, or through runuser. */
    private static ProcResult unixPsqlAs(String osUser, String user, String db, String sql) {
        if (osUser.equals(OS_USER)) {
            return unixPsql(user, null, db, sql);
        }
        return Tools.run(Tools.PSQL_TIMEOUT, Map.of("PGCONNECT_TIMEOUT", "10"), "runuser", "-u", osUser, "--",
                "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", runDir.toString(),
                "-p", Integer.toString(port), "-U", user, "-d", db, "-c", sql);
    }

    /** The SHOW POOLS row of database meta and {@code user}, split on |. */
    private static String[] poolRow(String user) {
        ProcResult r = tcpPsql(DBA, DBA_PASSWORD, "pgbouncer", "SHOW POOLS");
        assertTrue(r.ok(), r.describe());
        return r.stdout().lines().filter(l -> l.startsWith(DATABASE + "|" + user + "|")).findFirst()
                .map(l -> l.split("\\|", -1)).orElseThrow(() -> new AssertionError("no pool for " + user + "\n"
                        + r.stdout()));
    }

    private static int svActive(String user) {
        return Integer.parseInt(poolRow(user)[6]);
    }

    private static int backendPid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @Test
    void startsWithNoErrorAndWarnsOnlyAboutSettingsItDoesNotApplyYet() {
        Set<String> unapplied = new TreeSet<>();
        for (ILoggingEvent e : startupLog) {
            assertFalse(e.getLevel().isGreaterOrEqual(Level.ERROR), () -> "startup error: " + e);
            if (e.getLevel() == Level.WARN) {
                Matcher m = NOT_APPLIED.matcher(e.getFormattedMessage());
                assertTrue(m.matches(), () -> "unexpected startup warning: " + e.getFormattedMessage());
                unapplied.add(m.group(1));
            }
        }
        System.out.println("PigstyTemplateTest: settings accepted but not applied: " + unapplied);
        assertTrue(MAY_BE_UNAPPLIED.containsAll(unapplied), () -> "not applied: " + unapplied);
        // What SHOW CONFIG reports is the file's values, not the defaults.
        ProcResult config = tcpPsql(DBA, DBA_PASSWORD, "pgbouncer", "SHOW CONFIG");
        assertTrue(config.ok(), config.describe());
        for (String row : List.of("pool_mode|transaction|", "auth_type|hba|", "max_client_conn|20000|",
                "default_pool_size|50|", "reserve_pool_size|30|", "server_lifetime|600|",
                "max_prepared_statements|256|", "admin_users|postgres, dbuser_dba|",
                "ignore_startup_parameters|extra_float_digits, application_name, TimeZone, DateStyle, IntervalStyle, "
                        + "search_path|")) {
            assertTrue(config.stdout().lines().anyMatch(l -> l.startsWith(row)), () -> row + "\n" + config.stdout());
        }
    }

    @Test
    void pgjdbcLogsInWithScramOverTcpAndIsPooledPerTransaction() throws Exception {
        try (WireClient w = WireClient.open(port)) {
            w.sendStartup(WireClient.PROTOCOL_3, Map.of("user", META, "database", DATABASE));
            WireClient.Message m = w.read();
            assertEquals('R', m.type(), () -> "expected an authentication request, got " + m.fields());
            assertEquals(AUTH_SASL, m.authCode(), "the HBA line for 127.0.0.1 asks for scram-sha-256");
        }
        assertFatal("08P01", "SASL authentication failed", () -> jdbc(META, "not-the-password").close());

        // Default prepareThreshold: pgjdbc switches to named statements, which max_prepared_statements keeps.
        try (Connection a = jdbc(META, META_PASSWORD); Connection b = jdbc(META, META_PASSWORD);
             PreparedStatement ps = a.prepareStatement("SELECT ?::int * 2")) {
            for (int i = 1; i <= 10; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    assertTrue(rs.next());
                    assertEquals(2 * i, rs.getInt(1));
                }
            }
            backendPid(b);
            // Transaction mode: two connected clients outside a transaction hold no server.
            Await.until(Duration.ofSeconds(30), "no server active between transactions", () -> svActive(META) == 0);
            assertEquals("transaction", poolRow(META)[15]);

            a.setAutoCommit(false);
            int pid = backendPid(a);
            try (Statement st = a.createStatement()) {
                st.executeUpdate("INSERT INTO pigsty_it VALUES (1, 'tcp') ON CONFLICT (id) DO UPDATE SET via = 'tcp'");
            }
            Await.until(Duration.ofSeconds(30), "a client inside a transaction holds its server",
                    () -> svActive(META) == 1);
            assertEquals(pid, backendPid(a), "one backend for the whole transaction");
            a.commit();
            Await.until(Duration.ofSeconds(30), "the server is released at COMMIT", () -> svActive(META) == 0);
        }
    }

    @Test
    void usersFromTheIncludedUseroptsKeepTheirSessionMode() throws Exception {
        try (Connection a = jdbc(DBA, DBA_PASSWORD); Connection b = jdbc(DBA, DBA_PASSWORD)) {
            int pa = backendPid(a);
            int pb = backendPid(b);
            assertTrue(pa != pb, "session mode: one server per client");
            assertEquals("session", poolRow(DBA)[15]);
            // A server another test's dbuser_dba client just left may still be in its reset query.
            Await.until(Duration.ofSeconds(30), "both clients hold a server", () -> svActive(DBA) == 2);
        }
    }

    @Test
    void psqlOverTcpAndOverTheUnixSocket() {
        assertEquals("meta|dbuser_meta", tcpPsql(META, META_PASSWORD, DATABASE,
                "SELECT current_database() || '|' || current_user").value());
        assertEquals("meta|dbuser_meta", unixPsql(META, META_PASSWORD, DATABASE,
                "SELECT current_database() || '|' || current_user").value());
        // `local all all scram-sha-256`: the socket asks for the password too.
        ProcResult wrong = unixPsql(META, "not-the-password", DATABASE, "SELECT 1");
        assertFalse(wrong.ok(), wrong.describe());
        assertTrue(wrong.stderr().contains("FATAL:  SASL authentication failed"), wrong.describe());
    }

    @Test
    void theDbsuReachesTheConsoleOverTheSocketByPeerAndNoOtherOsUserDoes() {
        // `local pgbouncer postgres peer`: no password, the socket's peer must be OS user postgres.
        if (OS_USER.equals(DBSU) || OS_USER.equals("root")) {
            ProcResult dbsu = unixPsqlAs(DBSU, DBSU, "pgbouncer", "SHOW DATABASES");
            assertTrue(dbsu.ok(), dbsu.describe());
            assertTrue(dbsu.stdout().lines().anyMatch(l -> l.startsWith(DATABASE + "|")), dbsu.describe());
        }
        if (!OS_USER.equals(DBSU)) {
            ProcResult other = unixPsqlAs(OS_USER, DBSU, "pgbouncer", "SHOW DATABASES");
            assertFalse(other.ok(), other.describe());
            assertTrue(other.stderr().contains("FATAL:  unix socket login rejected"), other.describe());
        }
        // Over TCP the dbsu matches the scram-sha-256 line, and its empty userlist password lets nobody in, not
        // even with its PostgreSQL password.
        ProcResult tcp = tcpPsql(DBSU, PgCluster.SUPERUSER_PASSWORD, "pgbouncer", "SHOW DATABASES");
        assertFalse(tcp.ok(), tcp.describe());
        assertTrue(tcp.stderr().contains("FATAL:  SASL authentication failed"), tcp.describe());
    }

    @Test
    void theAdminAndStatsUsersOfTheTemplateUseTheConsole() {
        ProcResult databases = tcpPsql(DBA, DBA_PASSWORD, "pgbouncer", "SHOW DATABASES");
        assertTrue(databases.ok(), databases.describe());
        String[] meta = databases.stdout().lines().filter(l -> l.startsWith(DATABASE + "|")).findFirst()
                .orElseThrow(() -> new AssertionError(databases.stdout())).split("\\|", -1);
        PgServer primary = PgCluster.shared().primary();
        // name|host|port|database|force_user|pool_size|min_pool_size|reserve_pool_size|server_lifetime|pool_mode|
        // load_balance_hosts|max_connections|...
        assertEquals(primary.socketDir().toString(), meta[1]);
        assertEquals(Integer.toString(primary.port()), meta[2]);
        assertEquals(DATABASE, meta[3]);
        assertEquals("64", meta[5]);
        assertEquals("0", meta[6]);
        assertEquals("32", meta[7]);
        assertEquals("transaction", meta[9]);
        assertEquals("100", meta[11]);

        ProcResult pools = tcpPsql(DBA, DBA_PASSWORD, "pgbouncer", "SHOW POOLS");
        assertTrue(pools.ok(), pools.describe());
        ProcResult monitor = tcpPsql(MONITOR, MONITOR_PASSWORD, "pgbouncer", "SHOW POOLS");
        assertTrue(monitor.ok(), monitor.describe());
        ProcResult pause = tcpPsql(MONITOR, MONITOR_PASSWORD, "pgbouncer", "PAUSE");
        assertTrue(pause.stderr().contains("admin access needed"), pause.describe());
        ProcResult business = tcpPsql(META, META_PASSWORD, "pgbouncer", "SHOW POOLS");
        assertFalse(business.ok(), business.describe());
    }

    @Test
    void theHbaRejectsTheAdminFromOutsideLocalhostAndIntranet() throws Exception {
        Properties from127002 = new Properties();
        from127002.setProperty("localSocketAddress", "127.0.0.2");
        // `host all dbuser_dba 0.0.0.0/0 reject`: 127.0.0.2 is neither 127.0.0.1/32 nor an intranet range.
        assertFatal("08P01", "login rejected", () -> jdbc(DBA, DBA_PASSWORD, from127002).close());
        // No line at all for a business user from there.
        assertFatal("08P01", "no authentication method is found",
                () -> jdbc(META, META_PASSWORD, from127002).close());
        // The same admin login from 127.0.0.1 is let in.
        try (Connection c = jdbc(DBA, DBA_PASSWORD)) {
            assertTrue(backendPid(c) > 0);
        }
    }

    /**
     * As Pigsty's pgbouncer.service runs it: its own process on the file alone, PIDFile in /run/postgresql, the
     * logfile, {@code pg_isready} on the socket (Pigsty's check after a reload), HUP to reload, INT to stop.
     */
    @Test
    void theProcessRunsAsThePigstyServiceUnitDrivesIt() throws Exception {
        Path own = Files.createTempDirectory("pigsty-process");
        int ownPort = PoolerFixture.freePort();
        Path ini = render(own, ownPort);
        Path pidfile = own.resolve(RUN_DIR).resolve("pgbouncer.pid");
        Path logfile = own.resolve(LOG_DIR).resolve("pgbouncer.log");
        Path stdout = own.resolve("stdout.log");
        Process p = new ProcessBuilder(JarTest.command(ini.toString())).redirectErrorStream(true)
                .redirectOutput(stdout.toFile()).start();
        try {
            Await.until(PROCESS_DEADLINE, "the pidfile is written", () -> !p.isAlive() || Files.exists(pidfile));
            assertTrue(p.isAlive(), () -> read(stdout));
            assertEquals(Long.toString(p.pid()), read(pidfile).trim());
            String log = read(logfile);
            assertTrue(log.contains("LOG process up"), log);
            assertFalse(log.contains(" ERROR "), log);

            ProcResult ready = Tools.run(Tools.PSQL_TIMEOUT, Map.of(), "pg_isready", "-h",
                    own.resolve(RUN_DIR).toString(), "-p", Integer.toString(ownPort));
            assertEquals(0, ready.exitCode(), ready.describe());

            assertEquals(0, new ProcessBuilder("kill", "-HUP", Long.toString(p.pid())).start().waitFor());
            Await.until(PROCESS_DEADLINE, "the reload is logged", () -> read(logfile).contains("configuration "
                    + "reloaded") || read(logfile).contains("RELOAD failed"));
            assertFalse(read(logfile).contains("RELOAD failed"), () -> read(logfile));

            // KillSignal=SIGINT: exit once servers are released, removing the pidfile.
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(PROCESS_DEADLINE.toSeconds(), TimeUnit.SECONDS), () -> read(logfile));
            assertEquals(0, p.exitValue());
            assertFalse(Files.exists(pidfile), "the pidfile is removed at exit");
        } finally {
            p.destroyForcibly();
            p.waitFor(PROCESS_DEADLINE.toSeconds(), TimeUnit.SECONDS);
            deleteTree(own);
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
