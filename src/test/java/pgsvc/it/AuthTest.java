package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.pooler.auth.Secret;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.Tools;

/**
 * Client authentication by auth_type, and the secrets the pooler uses to log in to PostgreSQL. A wrong password and an
 * unknown user must fail with the same FATAL 08P01 text, so the answer never tells which one was wrong.
 */
@ExtendWith(PgClusterExtension.class)
class AuthTest {
    private static final int AUTH_OK = 0;
    private static final int AUTH_CLEARTEXT = 3;
    private static final int AUTH_MD5 = 5;
    private static final int AUTH_SASL = 10;

    private static PoolerFixture start(String authType) {
        var settings = PoolerFixture.defaults();
        settings.put("auth_type", authType);
        return PoolerFixture.start(settings);
    }

    private static PoolerFixture start(String authType, String userlist, String databases) {
        var settings = PoolerFixture.defaults();
        settings.put("auth_type", authType);
        return PoolerFixture.builder(settings).userlist(userlist).databases(databases).start();
    }

    private static String currentUser(PoolerFixture pooler, String user, String password) throws SQLException {
        return currentUser(pooler, "pgsvc", user, password);
    }

    private static String currentUser(PoolerFixture pooler, String db, String user, String password)
            throws SQLException {
        try (Connection c = pooler.connect(db, user, password, new Properties());
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT current_user")) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    /** The code of the first authentication request the pooler sends for a v3 login of {@code user}. */
    private static int firstAuthRequest(PoolerFixture pooler, String user) throws Exception {
        return firstAuthRequest(pooler, "pgsvc", user);
    }

    private static int firstAuthRequest(PoolerFixture pooler, String db, String user) throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            w.sendStartup(WireClient.PROTOCOL_3, Map.of("user", user, "database", db));
            WireClient.Message m = w.read();
            assertEquals('R', m.type(), () -> "expected an authentication request, got " + m.fields());
            return m.authCode();
        }
    }

    private static void wrongPasswordAndUnknownUserFailAlike(PoolerFixture pooler, String user, String text) {
        assertFatal("08P01", text, () -> pooler.connect(user, "not-the-password").close());
        assertFatal("08P01", text, () -> pooler.connect("no_such_user", "not-the-password").close());
    }

    @Test
    void md5AcceptsTheRightPasswordFromPgjdbcAndPsql() throws Exception {
        try (PoolerFixture pooler = start("md5")) {
            assertEquals(AUTH_MD5, firstAuthRequest(pooler, PgCluster.MD5_USER));
            assertEquals(PgCluster.MD5_USER, currentUser(pooler, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            // The auth file holds scrampass in plain text: the pooler logs in to PostgreSQL with SCRAM for this role.
            assertEquals(PgCluster.SCRAM_USER, currentUser(pooler, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
            assertEquals(PgCluster.MD5_USER, Tools.psql(pooler.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    "pgsvc", "SELECT current_user").value());
        }
    }

    @Test
    void md5RefusesAWrongPasswordAndAnUnknownUserWithTheSameText() {
        try (PoolerFixture pooler = start("md5")) {
            wrongPasswordAndUnknownUserFailAlike(pooler, PgCluster.MD5_USER, "password authentication failed");
        }
    }

    @Test
    void scramAcceptsTheRightPasswordFromPgjdbcAndPsql() throws Exception {
        try (PoolerFixture pooler = start("scram-sha-256")) {
            assertEquals(AUTH_SASL, firstAuthRequest(pooler, PgCluster.SCRAM_USER));
            assertEquals(PgCluster.SCRAM_USER, currentUser(pooler, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
            // A plain-text secret serves SCRAM with the client, and md5 with PostgreSQL for this role.
            assertEquals(PgCluster.MD5_USER, currentUser(pooler, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            assertEquals(PgCluster.SCRAM_USER, Tools.psql(pooler.port(), PgCluster.SCRAM_USER,
                    PgCluster.SCRAM_PASSWORD, "pgsvc", "SELECT current_user").value());
        }
    }

    @Test
    void scramRefusesAWrongPasswordAndAnUnknownUserWithTheSameText() {
        try (PoolerFixture pooler = start("scram-sha-256")) {
            wrongPasswordAndUnknownUserFailAlike(pooler, PgCluster.SCRAM_USER, "SASL authentication failed");
        }
    }

    @Test
    void plainAsksForTheCleartextPassword() throws Exception {
        try (PoolerFixture pooler = start("plain")) {
            assertEquals(AUTH_CLEARTEXT, firstAuthRequest(pooler, PgCluster.MD5_USER));
            assertEquals(PgCluster.MD5_USER, currentUser(pooler, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            assertEquals(PgCluster.SCRAM_USER, currentUser(pooler, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
            wrongPasswordAndUnknownUserFailAlike(pooler, PgCluster.MD5_USER, "password authentication failed");
        }
    }

    @Test
    void trustLetsAKnownUserInWithoutAPasswordButNotAnUnknownOne() throws Exception {
        try (PoolerFixture pooler = start("trust")) {
            assertEquals(AUTH_OK, firstAuthRequest(pooler, PgCluster.MD5_USER));
            assertEquals(PgCluster.MD5_USER, currentUser(pooler, PgCluster.MD5_USER, "anything at all"));
            assertFatal("08P01", "\"trust\" authentication failed",
                    () -> pooler.connect("no_such_user", "anything at all").close());
        }
    }

    @Test
    void md5AuthTypeWithAScramSecretAuthenticatesTheClientWithScram() throws Exception {
        byte[] salt = new byte[16];
        new SecureRandom().nextBytes(salt);
        String secret = Secret.scramFromPassword("trustpass", salt, 4096).text();
        // pgsvc_trust: PostgreSQL trusts the pooler's login, so only the client side uses this secret.
        String userlist = "\"" + PgCluster.TRUST_USER + "\" \"" + secret + "\"\n";
        try (PoolerFixture pooler = start("md5", userlist, "")) {
            assertEquals(AUTH_SASL, firstAuthRequest(pooler, PgCluster.TRUST_USER));
            assertEquals(PgCluster.TRUST_USER, currentUser(pooler, PgCluster.TRUST_USER, "trustpass"));
            assertFatal("08P01", "SASL authentication failed",
                    () -> pooler.connect(PgCluster.TRUST_USER, "not-the-password").close());
            // PgBouncer picks SCRAM by the user's secret; an unknown user has none, so its mock login is md5.
            assertEquals(AUTH_MD5, firstAuthRequest(pooler, "no_such_user"));
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect("no_such_user", "not-the-password").close());
        }
    }

    @Test
    void postgresqlsOwnScramSecretLogsInTheClientAndThenThePoolerToPostgresql() throws Exception {
        String secret;
        try (Connection admin = PgCluster.shared().primary().connectAdmin();
             Statement st = admin.createStatement();
             ResultSet rs = st.executeQuery(
                     "SELECT rolpassword FROM pg_authid WHERE rolname = '" + PgCluster.SCRAM_USER + "'")) {
            assertTrue(rs.next());
            secret = rs.getString(1);
        }
        assertTrue(secret.startsWith("SCRAM-SHA-256$"), secret);
        String userlist = "\"" + PgCluster.SCRAM_USER + "\" \"" + secret + "\"\n";
        try (PoolerFixture pooler = start("md5", userlist, "")) {
            assertEquals(AUTH_SASL, firstAuthRequest(pooler, PgCluster.SCRAM_USER));
            // SCRAM pass-through: the keys the client proved are the ones PostgreSQL checks.
            assertEquals(PgCluster.SCRAM_USER, currentUser(pooler, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD));
        }
    }

    @Test
    void anMd5SecretAuthenticatesTheClientAndLogsInToPostgresql() throws Exception {
        String md5 = "md5" + WireClient.md5Hex(
                (PgCluster.MD5_PASSWORD + PgCluster.MD5_USER).getBytes(StandardCharsets.UTF_8));
        String userlist = "\"" + PgCluster.MD5_USER + "\" \"" + md5 + "\"\n";
        try (PoolerFixture pooler = start("md5", userlist, "")) {
            assertEquals(AUTH_MD5, firstAuthRequest(pooler, PgCluster.MD5_USER));
            assertEquals(PgCluster.MD5_USER, currentUser(pooler, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            try (WireClient w = WireClient.open(pooler.port())) {
                List<WireClient.Message> login = w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of());
                assertEquals('Z', login.get(login.size() - 1).type(), () -> "login ended with " + login);
                assertEquals(List.of(PgCluster.MD5_USER), w.query("SELECT session_user").orThrow().values());
            }
            wrongPasswordAndUnknownUserFailAlike(pooler, PgCluster.MD5_USER, "password authentication failed");
        }
    }

    @Test
    void authTypeAnyLetsAnyUserNameThroughToAForcedUser() throws Exception {
        int primary = PgCluster.shared().primary().port();
        String databases = "anyone = host=127.0.0.1 port=" + primary + " dbname=pgsvc user=" + PgCluster.TRUST_USER
                + "\n";
        try (PoolerFixture pooler = start("any", PoolerFixture.USERLIST, databases)) {
            assertEquals(AUTH_OK, firstAuthRequest(pooler, "anyone", "nobody_in_any_list"));
            assertEquals(PgCluster.TRUST_USER, currentUser(pooler, "anyone", "nobody_in_any_list", "whatever"));
            assertEquals(PgCluster.TRUST_USER, currentUser(pooler, "anyone", PgCluster.MD5_USER, "wrong too"));
        }
    }

    @Test
    void aForcedUsersServerPasswordComesFromTheDatabaseEntry() throws Exception {
        int primary = PgCluster.shared().primary().port();
        String databases = "forced = host=127.0.0.1 port=" + primary + " dbname=pgsvc user=" + PgCluster.SCRAM_USER
                + " password=" + PgCluster.SCRAM_PASSWORD + "\n";
        // The auth file's password for pgsvc_scram is wrong: only the [databases] entry's can log in.
        String userlist = "\"" + PgCluster.MD5_USER + "\" \"" + PgCluster.MD5_PASSWORD + "\"\n"
                + "\"" + PgCluster.SCRAM_USER + "\" \"not-the-server-password\"\n";
        try (PoolerFixture pooler = start("md5", userlist, databases)) {
            assertEquals(PgCluster.SCRAM_USER,
                    currentUser(pooler, "forced", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            // The client still authenticates against the auth file with its own name.
            assertFatal("08P01", "password authentication failed",
                    () -> pooler.connect("forced", PgCluster.MD5_USER, PgCluster.SCRAM_PASSWORD, new Properties())
                            .close());
        }
    }
}
