package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.nio.file.Files;
import java.nio.file.Path;
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

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.Tools;

/**
 * auth_user, auth_query and auth_dbname against real PostgreSQL: users that the auth file does not list log in with
 * the secret PostgreSQL itself stores (md5 for pgsvc_md5, SCRAM for pgsvc_scram), looked up by auth_query as
 * auth_user. The global auth_user is pgsvc_trust, which is not in the auth file (PostgreSQL trusts it) and may only
 * call a SECURITY DEFINER function, as PgBouncer's documentation recommends; that function also records every name it
 * was asked about, so the tests can see that a name full of SQL arrives as a value.
 */
@ExtendWith(PgClusterExtension.class)
class AuthQueryTest {
    private static final int AUTH_MD5 = 5;
    private static final int AUTH_SASL = 10;
    /** The database where only the auth_dbname tests' function exists. */
    private static final String AUTH_DB = "pgsvc_authq";
    private static final String LOOKUP = "SELECT usename, passwd FROM authq.lookup($1)";
    /** Only the auth file's superuser: every other user has to be looked up. */
    private static final String USERLIST = "\"postgres\" \"postgres\"\n";
    private static final String INJECTION = "x' OR '1'='1";

    @BeforeAll
    static void createLookupFunctions() throws SQLException {
        try (Connection c = PgCluster.shared().primary().connectAdmin(); Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + AUTH_DB + "'")) {
                if (!rs.next()) {
                    st.execute("CREATE DATABASE " + AUTH_DB);
                }
            }
        }
        createLookup(PgCluster.DATABASE, "authq");
        createLookup(AUTH_DB, "authq_elsewhere");
    }

    /** A SECURITY DEFINER lookup in {@code schema} of {@code db} that pgsvc_trust may call, and its log of names. */
    private static void createLookup(String db, String schema) throws SQLException {
        try (Connection c = PgCluster.shared().primary().connect(db, PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD); Statement st = c.createStatement()) {
            st.execute("CREATE SCHEMA IF NOT EXISTS " + schema);
            st.execute("CREATE TABLE IF NOT EXISTS " + schema + ".asked (name text)");
            st.execute("CREATE OR REPLACE FUNCTION " + schema + ".lookup(p_user text) "
                    + "RETURNS TABLE (usename text, passwd text) LANGUAGE plpgsql SECURITY DEFINER "
                    + "SET search_path = pg_catalog, pg_temp AS $$ BEGIN "
                    + "INSERT INTO " + schema + ".asked VALUES (p_user); "
                    + "RETURN QUERY SELECT rolname::text, CASE WHEN rolvaliduntil < now() THEN NULL "
                    + "ELSE rolpassword END FROM pg_authid WHERE rolname = p_user AND rolcanlogin; END $$");
            st.execute("REVOKE ALL ON FUNCTION " + schema + ".lookup(text) FROM PUBLIC");
            st.execute("GRANT USAGE ON SCHEMA " + schema + " TO " + PgCluster.TRUST_USER);
            st.execute("GRANT EXECUTE ON FUNCTION " + schema + ".lookup(text) TO " + PgCluster.TRUST_USER);
            st.execute("GRANT CONNECT ON DATABASE " + db + " TO " + PgCluster.TRUST_USER);
        }
    }

    private static Map<String, String> settings() {
        var s = PoolerFixture.defaults();
        s.put("auth_type", "md5");
        s.put("auth_user", PgCluster.TRUST_USER);
        s.put("auth_query", LOOKUP);
        return s;
    }

    private static PoolerFixture start(Map<String, String> settings, String databases) {
        return PoolerFixture.builder(settings).userlist(USERLIST).databases(databases).start();
    }

    private static String entry(String name, String params) {
        return name + " = host=127.0.0.1 port=" + PgCluster.shared().primary().port() + " " + params + "\n";
    }

    /** current_user and current_database() of a login, after a second statement on the same connection. */
    private static String whoAmI(PoolerFixture pooler, String db, String user, String password) throws SQLException {
        try (Connection c = pooler.connect(db, user, password, new Properties());
             Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_class")) {
                assertTrue(rs.next());
            }
            try (ResultSet rs = st.executeQuery("SELECT current_user, current_database()")) {
                assertTrue(rs.next());
                return rs.getString(1) + "@" + rs.getString(2);
            }
        }
    }

    private static int firstAuthRequest(PoolerFixture pooler, String user) throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            w.sendStartup(WireClient.PROTOCOL_3, Map.of("user", user, "database", PgCluster.DATABASE));
            WireClient.Message m = w.read();
            assertEquals('R', m.type(), () -> "expected an authentication request, got " + m.fields());
            return m.authCode();
        }
    }

    private static int asked(String db, String schema, String name) throws SQLException {
        try (Connection c = PgCluster.shared().primary().connect(db, PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD);
             PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM " + schema + ".asked WHERE name = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    @Test
    void anMd5UserMissingFromTheAuthFileLogsInWithTheSecretPostgresqlStores() throws Exception {
        try (PoolerFixture pooler = start(settings(), "")) {
            assertEquals(AUTH_MD5, firstAuthRequest(pooler, PgCluster.MD5_USER));
            assertEquals("pgsvc_md5@pgsvc", whoAmI(pooler, "pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            assertEquals(PgCluster.MD5_USER, Tools.psql(pooler.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    "pgsvc", "SELECT current_user").value());
        }
    }

    @Test
    void aScramSecretMakesTheClientUseScramAndIsPassedThroughToPostgresql() throws Exception {
        try (PoolerFixture pooler = start(settings(), "")) {
            // auth_type is md5, but a SCRAM secret can only serve SCRAM, as with an auth file.
            assertEquals(AUTH_SASL, firstAuthRequest(pooler, PgCluster.SCRAM_USER));
            assertEquals("pgsvc_scram@pgsvc",
                    whoAmI(pooler, "pgsvc", PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
            assertEquals("pgsvc_scram@pgsvc",
                    whoAmI(pooler, "pgsvc", PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
        }
    }

    @Test
    void aWrongPasswordAndAnUnknownUserAreRefusedAlike() {
        try (PoolerFixture pooler = start(settings(), "")) {
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect(PgCluster.MD5_USER, "not-the-password").close());
            assertFatal("08P01", "SASL authentication failed",
                    () -> pooler.connect(PgCluster.SCRAM_USER, "not-the-password").close());
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect("no_such_user", "not-the-password").close());
        }
    }

    @Test
    void aPasswordChangedInPostgresqlTakesEffectAtTheNextLogin() throws Exception {
        String role = "pgsvc_authq_changing";
        TestRoles.create(role, "first");
        try (Connection admin = PgCluster.shared().primary().connectAdmin(); Statement st = admin.createStatement()) {
            st.execute("ALTER ROLE " + role + " PASSWORD 'first'");
            // Session mode: the first client keeps its server, so the second login needs a new server login.
            try (PoolerFixture pooler = start(settings(), entry("changing", "dbname=pgsvc pool_mode=session"));
                 Connection first = pooler.connect("changing", role, "first", new Properties())) {
                st.execute("ALTER ROLE " + role + " PASSWORD 'second'");
                assertEquals(role + "@pgsvc", whoAmI(pooler, "changing", role, "second"));
                assertFatal("08P01", "SASL authentication failed",
                        () -> pooler.connect("changing", role, "first", new Properties()).close());
                try (Statement old = first.createStatement(); ResultSet rs = old.executeQuery("SELECT 1")) {
                    assertTrue(rs.next());
                }
            }
        }
    }

    @Test
    void aUserNameCarryingSqlIsOnlyEverAValue() throws Exception {
        int before = asked(PgCluster.DATABASE, "authq", INJECTION);
        try (PoolerFixture pooler = start(settings(), "")) {
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect(INJECTION, PgCluster.MD5_PASSWORD).close());
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect(PgCluster.MD5_USER + "' --", PgCluster.MD5_PASSWORD).close());
        }
        // The function was asked about the whole name, quotes and all.
        assertEquals(before + 1, asked(PgCluster.DATABASE, "authq", INJECTION));
    }

    @Test
    void aDatabaseEntryOverridesAuthUserAndAuthQuery() throws Exception {
        // postgres may read pg_authid, pgsvc_trust may not: this query only works as the entry's auth_user.
        String databases = entry("override", "dbname=pgsvc auth_user=postgres auth_query='SELECT rolname, "
                + "rolpassword FROM pg_authid WHERE rolname = $1 AND rolname <> ''pgsvc_scram'''");
        try (PoolerFixture pooler = start(settings(), databases)) {
            assertEquals("pgsvc_md5@pgsvc", whoAmI(pooler, "override", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            // The entry's query finds no pgsvc_scram; the global one, for database pgsvc, does.
            assertFatal("08P01", "password authentication failed", () -> pooler.connect("override",
                    PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD, new Properties()).close());
            assertEquals("pgsvc_scram@pgsvc",
                    whoAmI(pooler, "pgsvc", PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
        }
    }

    @Test
    void authDbnameRunsTheLookupInAnotherDatabaseThanTheClients() throws Exception {
        String elsewhere = "SELECT usename, passwd FROM authq_elsewhere.lookup($1)";
        String databases = entry("authdb", "dbname=" + AUTH_DB)
                + entry("elsewhere", "dbname=pgsvc auth_dbname=authdb auth_query='" + elsewhere + "'");
        int before = asked(AUTH_DB, "authq_elsewhere", PgCluster.MD5_USER);
        try (PoolerFixture pooler = start(settings(), databases)) {
            assertEquals("pgsvc_md5@pgsvc",
                    whoAmI(pooler, "elsewhere", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
        }
        assertEquals(before + 1, asked(AUTH_DB, "authq_elsewhere", PgCluster.MD5_USER));

        var global = settings();
        global.put("auth_dbname", "authdb");
        global.put("auth_query", elsewhere);
        try (PoolerFixture pooler = start(global, entry("authdb", "dbname=" + AUTH_DB))) {
            assertEquals("pgsvc_scram@pgsvc",
                    whoAmI(pooler, "pgsvc", PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
        }
    }

    @Test
    void hbaRulesThatAskForAPasswordUseTheLookedUpSecret() throws Exception {
        Path hba = Files.createTempFile("pgsvc-authq", ".hba");
        Files.writeString(hba, "host all " + PgCluster.SCRAM_USER + " 127.0.0.1/32 scram-sha-256\n"
                + "host all all 127.0.0.1/32 md5\n");
        var s = settings();
        s.put("auth_type", "hba");
        s.put("auth_hba_file", hba.toString());
        try (PoolerFixture pooler = start(s, "")) {
            assertEquals(AUTH_MD5, firstAuthRequest(pooler, PgCluster.MD5_USER));
            assertEquals("pgsvc_md5@pgsvc", whoAmI(pooler, "pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            assertEquals("pgsvc_scram@pgsvc",
                    whoAmI(pooler, "pgsvc", PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect(PgCluster.MD5_USER, "not-the-password").close());
        }
    }

    @Test
    void lookupConnectionsAreReusedAndBoundedByTheLoginsInFlight() throws Exception {
        try (PoolerFixture pooler = start(settings(), "")) {
            // One login at a time needs one lookup connection, and it stays for the next login.
            for (int i = 0; i < 3; i++) {
                assertEquals("pgsvc_md5@pgsvc", whoAmI(pooler, "pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            }
            Await.until(Duration.ofSeconds(30), "a single lookup connection",
                    () -> TestRoles.backends(PgCluster.TRUST_USER) == 1);
            int threads = 4;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<String>> logins = new ArrayList<>();
                for (int i = 0; i < 16; i++) {
                    String user = i % 2 == 0 ? PgCluster.MD5_USER : PgCluster.SCRAM_USER;
                    String password = i % 2 == 0 ? PgCluster.MD5_PASSWORD : PgCluster.SCRAM_PASSWORD;
                    logins.add(pool.submit(() -> whoAmI(pooler, "pgsvc", user, password)));
                }
                for (int i = 0; i < logins.size(); i++) {
                    assertEquals((i % 2 == 0 ? "pgsvc_md5" : "pgsvc_scram") + "@pgsvc",
                            logins.get(i).get(60, TimeUnit.SECONDS));
                }
            } finally {
                pool.shutdownNow();
            }
            // Sixteen logins, at most four at a time: never more lookup connections than lookups in flight.
            int lookups = TestRoles.backends(PgCluster.TRUST_USER);
            assertTrue(lookups >= 1 && lookups <= threads, () -> lookups + " lookup connections");
        }
    }

    @Test
    void aFailingLookupEndsTheLoginWithBouncerConfigError() throws Exception {
        // pgsvc_scram is not in the auth file and PostgreSQL wants its password: it cannot be the auth_user.
        String databases = entry("nologin", "dbname=pgsvc auth_user=" + PgCluster.SCRAM_USER)
                + entry("badquery", "dbname=pgsvc auth_query='SELECT usename, passwd FROM authq.no_such_function($1)'")
                + entry("threecols", "dbname=pgsvc auth_query='SELECT usename, passwd, 1 FROM authq.lookup($1)'")
                + entry("nowhere", "dbname=pgsvc auth_dbname=no_such_entry");
        try (PoolerFixture pooler = PoolerFixture.builder(settings()).userlist(USERLIST).databases(databases)
                .withoutWildcard().start()) {
            for (String db : List.of("nologin", "badquery", "threecols", "nowhere")) {
                assertFatal("08P01", "bouncer config error", () -> pooler.connect(db, PgCluster.MD5_USER,
                        PgCluster.MD5_PASSWORD, new Properties()).close());
            }
            // The same users log in where the lookup works.
            assertEquals("pgsvc_md5@pgsvc", whoAmI(pooler, "pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
        }
    }

    @Test
    void aLookupThatDoesNotAnswerEndsWithQueryWaitTimeoutAndIsCancelled() throws Exception {
        var s = settings();
        s.put("query_wait_timeout", "2");
        String databases = entry("slow", "dbname=pgsvc auth_user=postgres auth_query='SELECT rolname, rolpassword "
                + "FROM pg_authid, pg_sleep(300) WHERE rolname = $1'");
        try (PoolerFixture pooler = start(s, databases)) {
            assertFatal("08P01", "query_wait_timeout", () -> pooler.connect("slow", PgCluster.MD5_USER,
                    PgCluster.MD5_PASSWORD, new Properties()).close());
            Await.until(Duration.ofSeconds(30), "the sleeping auth_query is cancelled", () -> {
                try (Connection c = PgCluster.shared().primary().connectAdmin(); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                             + "'%pg_sleep(300)%' AND pid <> pg_backend_pid() AND state = 'active'")) {
                    rs.next();
                    return rs.getInt(1) == 0;
                }
            });
        }
    }
}
