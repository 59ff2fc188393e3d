package pgsvc.pooler.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    private Config load(String text) throws Exception {
        return Config.load(write("pgbouncer.ini", text));
    }

    /** Loads a [pgbouncer] section with one line and returns the error text. */
    private String problem(String line) throws Exception {
        Path f = write("bad.ini", "[pgbouncer]\n" + line + "\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(2, e.line());
        return e.getMessage().substring((f + ":2: ").length());
    }

    @Test
    void settingTableHasEveryKeyInShowConfigOrder() {
        List<Setting> all = Setting.all();
        assertEquals(101, all.size());
        List<String> names = new ArrayList<>();
        for (Setting s : all) {
            names.add(s.name());
        }
        List<String> sorted = new ArrayList<>(names);
        sorted.sort(null);
        assertEquals(sorted, names);
        assertEquals("admin_users", names.get(0));
        assertEquals("verbose", names.get(names.size() - 1));
        for (String key : List.of("service_name", "job_name", "login_notify_message", "pool_idle_timeout",
                "scram_iterations", "max_db_client_connections", "transaction_timeout", "query_wait_notify")) {
            assertTrue(names.contains(key), key);
        }
    }

    @Test
    void everyDefaultIsValidForItsOwnType() {
        for (Setting s : Setting.all()) {
            if (s.defaultValue() != null) {
                assertNull(s.validate(s.defaultValue()), s.name());
            }
        }
    }

    @Test
    void tableDefaultsAndReloadability() {
        assertEquals("DISCARD ALL", Setting.SERVER_RESET_QUERY.defaultValue());
        assertEquals("SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid"
                + " WHERE rolname=$1 AND rolcanlogin", Setting.AUTH_QUERY.defaultValue());
        assertEquals("/tmp", Setting.UNIX_SOCKET_DIR.defaultValue());
        assertEquals("200", Setting.MAX_PREPARED_STATEMENTS.defaultValue());
        assertEquals("<empty>", Setting.SERVER_CHECK_QUERY.defaultValue());
        assertEquals("0777", Setting.UNIX_SOCKET_MODE.defaultValue());
        assertEquals("prefer", Setting.SERVER_TLS_SSLMODE.defaultValue());
        assertNull(Setting.AUTH_FILE.defaultValue());
        assertEquals(Setting.Type.TIME, Setting.SERVER_LIFETIME.type());
        assertEquals(Setting.Type.BOOL, Setting.SO_REUSEPORT.type());
        assertEquals(List.of("session", "transaction", "statement"), Setting.POOL_MODE.allowedValues());

        Set<String> notReloadable = Set.of("disable_pqexec", "job_name", "listen_addr", "listen_backlog",
                "listen_port", "pidfile", "pkt_buf", "resolv_conf", "service_name", "so_reuseport",
                "track_extra_parameters", "unix_socket_dir", "unix_socket_group", "unix_socket_mode", "user");
        for (Setting s : Setting.all()) {
            assertEquals(!notReloadable.contains(s.name()), s.reloadable(), s.name());
        }
    }

    @Test
    void defaultsApplyForUnsetKeys() throws Exception {
        Config c = load("[pgbouncer]\n");
        for (String key : List.of("listen_port", "server_reset_query", "auth_query", "unix_socket_dir",
                "max_prepared_statements", "server_check_query", "pool_mode", "auth_type", "default_pool_size",
                "server_lifetime", "track_extra_parameters")) {
            assertEquals(Setting.byName(key).defaultValue(), c.get(key), key);
            assertFalse(c.isSet(key), key);
        }
        assertEquals(6432, c.listenPort());
        assertEquals(PoolMode.SESSION, c.poolMode());
        assertEquals(100, c.maxClientConn());
        assertEquals(20, c.defaultPoolSize());
        assertEquals("md5", c.authType());
        assertNull(c.authFile());
        assertEquals(List.of(), c.listenAddrs());
        assertEquals("DISCARD ALL", c.serverResetQuery());
        assertFalse(c.serverResetQueryAlways());
        assertEquals(2147483647L, c.maxPacketSize());
        assertEquals(128, c.listenBacklog());
        assertFalse(c.soReuseport());
        assertEquals(0, c.verbose());
        assertEquals("0", c.get("verbose"));
        assertEquals("", c.get("auth_user"));
        assertEquals("", c.logfile());
        assertEquals(120_000_000L, c.getMicros("query_wait_timeout"));
        assertEquals(3_600_000_000L, c.getMicros("server_lifetime"));
        assertTrue(c.getBool("log_connections"));
        // SHOW CONFIG prints ints in decimal, so the octal default reads back as 511.
        assertEquals("511", c.get("unix_socket_mode"));
        assertEquals(c.file().toString(), c.get("conffile"));
        assertTrue(c.databases().isEmpty());
    }

    @Test
    void integersAreStrtolBaseZero() throws Exception {
        Config c = load("[pgbouncer]\nunix_socket_mode = 0660\nmax_client_conn = 0x1F\nlisten_port=+7000\n");
        assertEquals(0660, c.getInt("unix_socket_mode"));
        assertEquals("432", c.get("unix_socket_mode"));
        assertEquals(31, c.maxClientConn());
        assertEquals(7000, c.listenPort());
        assertTrue(c.isSet("max_client_conn"));
    }

    @Test
    void badIntegersNameFileLineAndKey() throws Exception {
        Path f = write("bad.ini", "; header\n[pgbouncer]\nlisten_port = 12abc\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(f + ":3: invalid value \"12abc\" for parameter listen_port: expected an integer (decimal, 0x "
                + "hexadecimal or 0 octal)", e.getMessage());
        assertEquals("invalid value \"08\" for parameter max_client_conn: expected an integer (decimal, 0x "
                + "hexadecimal or 0 octal)", problem("max_client_conn = 08"));
        assertEquals("invalid value \"4294967296\" for parameter max_client_conn: out of range",
                problem("max_client_conn = 4294967296"));
        assertEquals("invalid value \"\" for parameter default_pool_size: expected an integer (decimal, 0x "
                + "hexadecimal or 0 octal)", problem("default_pool_size ="));
    }

    @Test
    void timesAreFloatSecondsWithoutUnits() throws Exception {
        Config c = load("[pgbouncer]\nquery_wait_timeout = 0.5\nserver_lifetime = 1e6\nserver_idle_timeout=.25\n");
        assertEquals(500_000L, c.getMicros("query_wait_timeout"));
        assertEquals("0.5", c.get("query_wait_timeout"));
        assertEquals(1_000_000_000_000L, c.getMicros("server_lifetime"));
        assertEquals("1e+06", c.get("server_lifetime"));
        assertEquals(250_000L, c.getMicros("server_idle_timeout"));

        assertEquals("invalid value \"15s\" for parameter server_lifetime: expected a number of seconds such as 15 "
                + "or 0.5 (no unit suffix)", problem("server_lifetime = 15s"));
        assertEquals("invalid value \"-1\" for parameter query_timeout: must not be negative",
                problem("query_timeout = -1"));
    }

    @Test
    void booleansAreIntegersAndWordsAreRefused() throws Exception {
        Config c = load("[pgbouncer]\nso_reuseport = 1\nlog_connections = 0\nserver_reset_query_always=1\n");
        assertTrue(c.soReuseport());
        assertFalse(c.getBool("log_connections"));
        assertTrue(c.serverResetQueryAlways());
        assertEquals("invalid value \"on\" for parameter log_connections: expected 0 (off) or 1 (on)",
                problem("log_connections = on"));
        assertEquals("invalid value \"yes\" for parameter so_reuseport: expected 0 (off) or 1 (on)",
                problem("so_reuseport = yes"));
    }

    @Test
    void enumsAreCaseInsensitiveAndCanonicalised() throws Exception {
        Config c = load("[pgbouncer]\npool_mode = TRANSACTION\nauth_type = SCRAM-SHA-256\n");
        assertEquals(PoolMode.TRANSACTION, c.poolMode());
        assertEquals("transaction", c.get("pool_mode"));
        assertEquals("scram-sha-256", c.authType());
        assertEquals("invalid value \"pooled\" for parameter pool_mode: expected one of session, transaction, "
                + "statement", problem("pool_mode = pooled"));
        assertEquals("invalid value \"md5 # comment\" for parameter auth_type: expected one of any, trust, plain, "
                + "md5, cert, hba, ldap, pam, scram-sha-256", problem("auth_type = md5 # comment"));
    }

    @Test
    void unknownAndMiscasedKeysFailTheLoad() throws Exception {
        Path f = write("typo.ini", "[pgbouncer]\nlisten_port = 6432\nmax_cleint_conn = 100\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(f + ":3: unknown parameter: max_cleint_conn", e.getMessage());
        assertEquals("unknown parameter: Listen_Port", problem("Listen_Port = 1"));
        assertThrows(IllegalArgumentException.class, () -> load("[pgbouncer]\n").get("max_cleint_conn"));
    }

    @Test
    void mainSectionIsRequired() throws Exception {
        Path f = write("nomain.ini", "[databases]\nfoo = host=a\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(f + ": main section missing", e.getMessage());
    }

    @Test
    void reopeningMainSectionResetsKeysThatHaveDefaults() throws Exception {
        Config c = load("[pgbouncer]\nlisten_port = 7000\nauth_file = users.txt\n[databases]\n[pgbouncer]\n");
        assertEquals(6432, c.listenPort());
        assertFalse(c.isSet("listen_port"));
        // auth_file has no default, so PgBouncer's fill_defaults leaves it alone.
        assertTrue(c.isSet("auth_file"));
        assertEquals(Path.of(System.getProperty("user.dir")).resolve("users.txt"), c.authFile());
    }

    @Test
    void listsAndStartupParameters() throws Exception {
        Config c = load("[pgbouncer]\nadmin_users = postgres, dbuser_dba,\nlisten_addr = 127.0.0.1,10.0.0.1\n"
                + "ignore_startup_parameters = extra_float_digits, TimeZone,DateStyle\n");
        assertEquals(List.of("postgres", "dbuser_dba"), c.adminUsers());
        assertEquals(List.of("127.0.0.1", "10.0.0.1"), c.listenAddrs());
        assertEquals(Set.of("extra_float_digits", "timezone", "datestyle"), c.ignoreStartupParameters());
        assertEquals(List.of(), c.statsUsers());
    }

    @Test
    void serviceNameIsTheSameValueAsJobName() throws Exception {
        Config c = load("[pgbouncer]\nservice_name = pgb2\n");
        assertEquals("pgb2", c.get("job_name"));
        assertEquals("pgb2", c.get("service_name"));
        assertTrue(c.isSet("job_name"));
    }

    @Test
    void reservedAuthDbnameIsRefused() throws Exception {
        assertEquals("invalid value \"pgbouncer\" for parameter auth_dbname: cannot use the reserved \"pgbouncer\" "
                + "database as an auth_dbname", problem("auth_dbname = pgbouncer"));
    }

    @Test
    void wildcardDatabaseIsSpecialisedForUnlistedNames() throws Exception {
        Config c = load("[databases]\nappdb = host=10.0.0.5 port=5433 dbname=real_app\n"
                + "* = host=db1,db2 pool_size=7\n[pgbouncer]\n");
        assertEquals(List.of("appdb", "*"), new ArrayList<>(c.databases().keySet()));

        DatabaseEntry exact = c.database("appdb");
        assertEquals("real_app", exact.serverDbname());
        assertEquals(5433, exact.port());
        assertFalse(exact.autoDatabase());

        DatabaseEntry auto = c.database("reports");
        assertEquals("reports", auto.name());
        assertEquals("reports", auto.dbname());
        assertEquals(List.of("db1", "db2"), auto.hosts());
        assertEquals(7, auto.poolSize());
        assertEquals(5432, auto.port());
        assertTrue(auto.autoDatabase());

        assertNull(c.database("pgbouncer"));
        assertNull(load("[pgbouncer]\n[databases]\nappdb = \n").database("reports"));
    }

    @Test
    void wildcardWithDbnameKeepsIt() throws Exception {
        Config c = load("[pgbouncer]\n[databases]\n* = dbname=shared\n");
        assertEquals("shared", c.database("anything").serverDbname());
        assertTrue(c.database("anything").hosts().isEmpty());
    }

    @Test
    void databaseEntriesWithForcedUserAndOverrides() throws Exception {
        Config c = load("[pgbouncer]\n[databases]\n"
                + "forced = host=/var/run/postgresql user=app password='s3cr''t x' pool_mode=statement "
                + "reserve_pool=4 max_db_connections=50 server_lifetime=300 load_balance_hosts=DISABLE "
                + "connect_query='SET search_path = app' client_encoding=UTF8 timezone=UTC query_wait_timeout=0\n"
                + "plain =\n");
        DatabaseEntry d = c.database("forced");
        assertTrue(d.hasForcedUser());
        assertEquals("app", d.user());
        assertEquals("s3cr't x", d.password());
        assertEquals(List.of("/var/run/postgresql"), d.hosts());
        assertTrue(DatabaseEntry.isUnixSocket(d.hosts().get(0)));
        assertNull(d.dbname());
        assertEquals("forced", d.serverDbname());
        assertEquals(PoolMode.STATEMENT, d.poolMode());
        assertEquals(4, d.reservePoolSize());
        assertEquals(50, d.maxDbConnections());
        assertEquals(300, d.serverLifetime());
        assertEquals("disable", d.loadBalanceHosts());
        assertEquals("SET search_path = app", d.connectQuery());
        assertEquals(0, d.queryWaitTimeout());
        assertEquals(List.of("client_encoding", "timezone"), new ArrayList<>(d.startupParameters().keySet()));
        assertFalse(d.toString().contains("s3cr"));

        DatabaseEntry plain = c.database("plain");
        assertFalse(plain.hasForcedUser());
        assertTrue(plain.hosts().isEmpty());
        assertNull(plain.poolSize());
        assertNull(plain.poolMode());
        assertEquals("round-robin", plain.loadBalanceHosts());
    }

    @Test
    void badDatabaseEntriesUsePgBouncerWording() throws Exception {
        Path f = write("db.ini", "[pgbouncer]\n[databases]\nok = host=a\nbad = host=a sslmode=require\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(f + ":4: unrecognized connection parameter: sslmode", e.getMessage());

        assertEquals("database name \"pgbouncer\" is reserved", dbProblem("pgbouncer = host=a"));
        assertEquals("invalid port: abc", dbProblem("d = port=abc"));
        assertEquals("invalid pool mode: pooled", dbProblem("d = pool_mode=pooled"));
        assertEquals("invalid load_balance_hosts: random", dbProblem("d = load_balance_hosts=random"));
        assertEquals("syntax error in connection string: empty value for \"host\"", dbProblem("d = host="));
        assertEquals("unrecognized connection parameter: postgresql://h/db", dbProblem("d = postgresql://h/db=x"));
        assertEquals("invalid value \"ten\" for pool_size: expected an integer", dbProblem("d = pool_size=ten"));
    }

    private String dbProblem(String line) throws Exception {
        Path f = write("db.ini", "[pgbouncer]\n[databases]\n" + line + "\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(3, e.line());
        return e.problem();
    }

    @Test
    void usersAndPeers() throws Exception {
        Config c = load("[pgbouncer]\npeer_id = 1\n[users]\n"
                + "dbuser_dba = pool_mode=session max_user_connections=16 query_timeout=0 client_idle_timeout=30\n"
                + "[peers]\n1 = host=/tmp/pgb1\n2 = host=10.0.0.2 port=6433 pool_size=4\n");
        UserEntry u = c.users().get("dbuser_dba");
        assertEquals(PoolMode.SESSION, u.poolMode());
        assertEquals(16, u.maxUserConnections());
        assertNull(u.queryTimeout());
        assertEquals(30, u.clientIdleTimeout());
        assertEquals(List.of(1, 2), new ArrayList<>(c.peers().keySet()));
        assertEquals(6432, c.peers().get(1).port());
        assertNull(c.peers().get(1).poolSize());
        assertEquals("10.0.0.2", c.peers().get(2).host());
        assertEquals(6433, c.peers().get(2).port());
        assertEquals(4, c.peers().get(2).poolSize());

        Path f = write("u.ini", "[pgbouncer]\n[users]\nbob = pool_mode=session statement_timeout=5\n");
        assertEquals(f + ":3: unrecognized user parameter: statement_timeout",
                assertThrows(ConfigException.class, () -> Config.load(f)).getMessage());
        Path g = write("p.ini", "[pgbouncer]\n[peers]\n3 = port=1\n");
        assertEquals(g + ":3: host was not provided for peer 3",
                assertThrows(ConfigException.class, () -> Config.load(g)).getMessage());
        Path h = write("p2.ini", "[pgbouncer]\n[peers]\n0 = host=a\n");
        assertTrue(assertThrows(ConfigException.class, () -> Config.load(h)).getMessage()
                .startsWith(h + ":3: invalid peer id \"0\""));
    }

    @Test
    void errorInIncludedFileNamesThatFileAndLine() throws Exception {
        Path inc = write("database.txt", "a = host=x\n\nb = host=y colour=blue\n");
        Path f = write("main.ini", "[pgbouncer]\n[databases]\n%include " + inc + "\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(inc + ":3: unrecognized connection parameter: colour", e.getMessage());
    }

    @Test
    void snapshotIsImmutable() throws Exception {
        Config c = load("[pgbouncer]\nadmin_users = a\n[databases]\nx = host=a\n");
        assertThrows(UnsupportedOperationException.class, () -> c.databases().remove("x"));
        assertThrows(UnsupportedOperationException.class, () -> c.adminUsers().add("b"));
        assertThrows(UnsupportedOperationException.class, () -> c.users().clear());
        assertThrows(UnsupportedOperationException.class, () -> c.database("x").parameters().put("port", "1"));
    }

    @Test
    void timesPrintLikeCPercentG() {
        assertEquals("0", Config.formatSeconds(0));
        assertEquals("3600", Config.formatSeconds(3_600_000_000L));
        assertEquals("0.5", Config.formatSeconds(500_000));
        assertEquals("1e-06", Config.formatSeconds(1));
        assertEquals("123457", Config.formatSeconds(123_456_700_000L));
        assertEquals("1.23457e+06", Config.formatSeconds(1_234_567_000_000L));
    }

    /** Pigsty's roles/pgsql/templates/pgbouncer.ini rendered with its defaults, plus its generated include files. */
    @Test
    void pigstyTemplateWithIncludesLoads() throws Exception {
        Path useropts = write("useropts.txt", String.join("\n",
                "dbuser_dba                  = pool_mode=session max_user_connections=16",
                "dbuser_monitor              = pool_mode=session max_user_connections=8",
                ""));
        Path database = write("database.txt", String.join("\n",
                "meta                        = host=/var/run/postgresql auth_user=dbuser_meta pool_mode=transaction "
                        + "pool_size=64 min_pool_size=0 reserve_pool=32 max_db_connections=100",
                "grafana                     = host=/var/run/postgresql",
                ""));
        Path userlist = write("userlist.txt", String.join("\n",
                "\"postgres\" \"\"",
                "\"dbuser_monitor\" \"SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"
                        + "4ZnpQ/gHimUKOAma4BKV3naubmiYuELB3eL4nzrHeAQ=:7JBXbidS/lCReHyhF7W/7ILBw7Q4LFlADT4hZDC1XZU=\"",
                ""));
        Path hba = write("pgb_hba.conf", "local pgbouncer postgres peer\n");
        Path ini = write("pgbouncer.ini", String.join("\n",
                "#==============================================================#",
                "# File      :   pgbouncer.ini",
                "# Desc      :   Pgbouncer Main Config for pg-meta-1",
                "# Path      :   /etc/pgbouncer/pgbouncer.ini",
                "# Note      :   ANSIBLE MANAGED, DO NOT CHANGE!",
                "#==============================================================#",
                "",
                "[users]",
                "%include " + useropts,
                "",
                "[databases]",
                "%include " + database,
                "",
                "[pgbouncer]",
                "pool_mode                   = transaction",
                "listen_addr                 = *",
                "listen_port                 = 6432",
                "admin_users                 = postgres, dbuser_dba",
                "stats_users                 = postgres, dbuser_monitor",
                "auth_type                   = hba",
                "auth_file                   = " + userlist,
                "auth_hba_file               = " + hba,
                "auth_user                   = postgres",
                "auth_query                  = SELECT username, password FROM monitor.pgbouncer_auth($1)",
                "client_tls_sslmode          = disable",
                "client_tls_cert_file        = /pg/cert/server.crt",
                "client_tls_key_file         = /pg/cert/server.key",
                "client_tls_ca_file          = /pg/cert/ca.crt",
                "server_reset_query          = DISCARD ALL",
                "server_reset_query_always   = 0",
                "unix_socket_dir             = /run/postgresql",
                "pidfile                     = /var/run/postgresql/pgbouncer.pid",
                "logfile                     = /pg/log/pgbouncer/pgbouncer.log",
                "application_name_add_host   = 0",
                "max_client_conn             = 20000",
                "min_pool_size               = 0",
                "default_pool_size           = 50",
                "reserve_pool_size           = 30",
                "reserve_pool_timeout        = 1",
                "server_lifetime             = 600",
                "max_db_connections          = 100",
                "max_user_connections        = 100",
                "server_round_robin          = 0",
                "log_connections             = 0",
                "log_disconnections          = 0",
                "ignore_startup_parameters   = extra_float_digits, application_name, TimeZone, DateStyle, "
                        + "IntervalStyle, search_path",
                "max_prepared_statements     = 256",
                ""));

        Config c = Config.load(ini);
        assertEquals(PoolMode.TRANSACTION, c.poolMode());
        assertEquals(List.of("*"), c.listenAddrs());
        assertEquals(6432, c.listenPort());
        assertEquals(List.of("postgres", "dbuser_dba"), c.adminUsers());
        assertEquals(List.of("postgres", "dbuser_monitor"), c.statsUsers());
        assertEquals("hba", c.authType());
        assertEquals(userlist, c.authFile());
        assertEquals(hba.toString(), c.get("auth_hba_file"));
        assertEquals("SELECT username, password FROM monitor.pgbouncer_auth($1)", c.get("auth_query"));
        assertEquals("disable", c.get("client_tls_sslmode"));
        assertEquals("DISCARD ALL", c.serverResetQuery());
        assertEquals("/run/postgresql", c.unixSocketDir());
        assertEquals("/var/run/postgresql/pgbouncer.pid", c.pidfile());
        assertEquals("/pg/log/pgbouncer/pgbouncer.log", c.logfile());
        assertEquals(20000, c.maxClientConn());
        assertEquals(50, c.defaultPoolSize());
        assertEquals(30, c.getInt("reserve_pool_size"));
        assertEquals(1_000_000L, c.getMicros("reserve_pool_timeout"));
        assertEquals(600_000_000L, c.getMicros("server_lifetime"));
        assertFalse(c.getBool("log_connections"));
        assertEquals(256, c.getInt("max_prepared_statements"));
        assertEquals(Set.of("extra_float_digits", "application_name", "timezone", "datestyle", "intervalstyle",
                "search_path"), c.ignoreStartupParameters());

        assertEquals(List.of("meta", "grafana"), new ArrayList<>(c.databases().keySet()));
        DatabaseEntry meta = c.database("meta");
        assertEquals(List.of("/var/run/postgresql"), meta.hosts());
        assertEquals(5432, meta.port());
        assertEquals("dbuser_meta", meta.authUser());
        assertEquals(64, meta.poolSize());
        assertEquals(32, meta.reservePoolSize());
        assertEquals(100, meta.maxDbConnections());
        assertNull(c.database("other"), "Pigsty has no * entry");

        assertEquals(List.of("dbuser_dba", "dbuser_monitor"), new ArrayList<>(c.users().keySet()));
        assertEquals(8, c.users().get("dbuser_monitor").maxUserConnections());

        AuthFile users = AuthFile.load(c.authFile());
        assertEquals("", users.secret("postgres"));
        assertEquals(AuthFile.SecretKind.SCRAM_SHA_256, AuthFile.kindOf(users.secret("dbuser_monitor")));
        assertTrue(users.warnings().isEmpty());
    }
}
