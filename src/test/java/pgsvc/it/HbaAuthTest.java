package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * auth_type = hba against the shared cluster: the first matching line of the HBA file picks the method per login,
 * TCP clients match {@code host} lines and Unix-socket clients {@code local} lines. psql covers the Unix socket.
 */
@ExtendWith(PgClusterExtension.class)
class HbaAuthTest {
    private static final int AUTH_OK = 0;
    private static final int AUTH_MD5 = 5;
    /** The OS user running the tests, which is what peer authentication sees over the Unix socket. */
    private static final String OS_USER = System.getProperty("user.name");

    private static PoolerFixture pooler;
    private static Path socketDir;

    @BeforeAll
    static void start() throws Exception {
        Path conf = Files.createTempDirectory("pgsvc-hba");
        socketDir = Files.createTempDirectory("pgsvc-hba-sock");
        Files.writeString(conf.resolve("trusted.txt"), PgCluster.TRUST_USER + ", nobody_in_auth_file\n");
        Path hba = Files.writeString(conf.resolve("pgb_hba.conf"), String.join("\n",
                "# local: Unix socket only",
                "local  all  " + PgCluster.SCRAM_USER + "  trust",
                "local  all  " + PgCluster.MD5_USER + "    md5",
                "local  all  \"" + OS_USER + "\"," + PgCluster.TRUST_USER + "  peer",
                "# host: TCP only",
                "host   all  " + PgCluster.MD5_USER + "    127.0.0.1/32   md5",
                "host   all  " + PgCluster.SCRAM_USER + "  127.0.0.1 255.255.255.255  reject",
                "host   all  @trusted.txt  127.0.0.0/8  trust",
                "host   all  all  10.0.0.0/8  trust",
                "host   all  all  127.0.0.1/32  pam  # not a PgBouncer method: skipped with a warning",
                ""));
        var settings = PoolerFixture.defaults();
        settings.put("auth_type", "hba");
        settings.put("auth_hba_file", hba.toString());
        settings.put("unix_socket_dir", socketDir.toString());
        int primary = PgCluster.shared().primary().port();
        // The OS user has no role in PostgreSQL: its logins use pgsvc_trust on the server side.
        pooler = PoolerFixture.builder(settings)
                .userlist(PoolerFixture.USERLIST + "\"" + OS_USER + "\" \"not used by peer\"\n")
                .databases("peerdb = host=127.0.0.1 port=" + primary + " dbname=pgsvc user=" + PgCluster.TRUST_USER
                        + "\n")
                .start();
    }

    @AfterAll
    static void stop() {
        if (pooler != null) {
            pooler.close();
        }
    }

    private static String currentUser(String db, String user, String password) throws SQLException {
        try (Connection c = pooler.connect(db, user, password, new Properties());
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT current_user")) {
            assertTrue(rs.next());
            return rs.getString(1);
        }
    }

    private static int firstAuthRequest(String user) throws Exception {
        try (WireClient w = WireClient.open(pooler.port())) {
            w.sendStartup(WireClient.PROTOCOL_3, Map.of("user", user, "database", "pgsvc"));
            WireClient.Message m = w.read();
            assertEquals('R', m.type(), () -> "expected an authentication request, got " + m.fields());
            return m.authCode();
        }
    }

    /** psql over pgsvc's Unix socket. */
    private static ProcResult unixPsql(String db, String user, String password) {
        return Tools.psqlArgs(password, "-X", "-A", "-t", "-h", socketDir.toString(),
                "-p", Integer.toString(pooler.port()), "-U", user, "-d", db, "-c", "SELECT current_user");
    }

    private static void assertUnixFatal(String message, ProcResult r) {
        assertFalse(r.ok(), () -> "expected a failed login\n" + r.stdout() + r.stderr());
        assertTrue(r.stderr().contains("FATAL:  " + message), () -> "stderr: " + r.stderr());
    }

    @Test
    void md5LineAsksForAnMd5PasswordAndChecksIt() throws Exception {
        assertEquals(AUTH_MD5, firstAuthRequest(PgCluster.MD5_USER));
        assertEquals(PgCluster.MD5_USER, currentUser("pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
        assertFatal("08P01", "password authentication failed",
                () -> pooler.connect(PgCluster.MD5_USER, "not-the-password").close());
    }

    @Test
    void rejectLineRefusesTheLogin() {
        assertFatal("08P01", "login rejected",
                () -> pooler.connect(PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD).close());
    }

    @Test
    void trustLineFromAnAtFileLetsAKnownUserInWithoutAPassword() throws Exception {
        assertEquals(AUTH_OK, firstAuthRequest(PgCluster.TRUST_USER));
        assertEquals(PgCluster.TRUST_USER, currentUser("pgsvc", PgCluster.TRUST_USER, "anything at all"));
        // As in PgBouncer, trust still needs the user in the auth file.
        assertFatal("08P01", "\"trust\" authentication failed",
                () -> pooler.connect("nobody_in_auth_file", "anything").close());
    }

    @Test
    void noMatchingLineIsNoAuthenticationMethod() {
        // postgres has no host line; the pam line that would match is skipped.
        assertFatal("08P01", "no authentication method is found",
                () -> pooler.connect(PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD).close());
    }

    @Test
    void localLinesApplyOverTheUnixSocketAndHostLinesOverTcp() {
        // pgsvc_scram: trust on the socket, reject over TCP.
        assertEquals(PgCluster.SCRAM_USER, unixPsql("pgsvc", PgCluster.SCRAM_USER, null).value());
        ProcResult tcp = Tools.psql(pooler.port(), PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD, "pgsvc",
                "SELECT 1");
        assertFalse(tcp.ok());
        assertTrue(tcp.stderr().contains("FATAL:  login rejected"), tcp.stderr());
        // pgsvc_md5: md5 on both, so the password matters on the socket too.
        assertEquals(PgCluster.MD5_USER, unixPsql("pgsvc", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD).value());
        assertUnixFatal("password authentication failed", unixPsql("pgsvc", PgCluster.MD5_USER, "wrong"));
        // postgres: no local line either.
        assertUnixFatal("no authentication method is found",
                unixPsql("pgsvc", PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD));
    }

    @Test
    void peerLineLetsTheOsUserInAsItselfOnly() {
        // The OS user may log in as its own name, with no password asked.
        assertEquals(PgCluster.TRUST_USER, unixPsql("peerdb", OS_USER, null).value());
        // pgsvc_trust has a peer line too, but the peer process is not run by an OS user of that name.
        assertUnixFatal("unix socket login rejected", unixPsql("peerdb", PgCluster.TRUST_USER, null));
    }

    @Test
    void aMissingHbaFileIsAStartupErrorNamingIt() {
        Path missing = socketDir.resolve("no-such-hba.conf");
        var settings = PoolerFixture.defaults();
        settings.put("auth_type", "hba");
        settings.put("auth_hba_file", missing.toString());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PoolerFixture.start(settings));
        assertTrue(e.getMessage().contains(missing + ": could not open auth_hba_file: no such file"),
                e.getMessage());
    }
}
