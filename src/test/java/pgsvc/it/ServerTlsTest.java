package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.util.PSQLException;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.PgServer;
import pgsvc.testing.TestCerts;

/**
 * TLS from pgsvc to PostgreSQL (server_tls_*), checked where it shows: pg_stat_ssl on the server for the backend a
 * client of pgsvc is served by. The shared primary runs with ssl = on and a certificate of the test CA for the
 * length of this class (and asks for client certificates of that CA); the replica stays without TLS, which is what
 * {@code server refused SSL} needs. A pool whose servers cannot be reached on the configured terms answers its first
 * client only at client_login_timeout (1 s here, so the tests need not wait a minute) and the next ones at once.
 */
@ExtendWith(PgClusterExtension.class)
class ServerTlsTest {
    private static TestCerts certs;
    private static TestCerts.Issued pgCert;
    private static TestCerts.Issued poolerCert;
    private static PgServer primary;
    private static final java.time.Duration WAIT = java.time.Duration.ofSeconds(60);

    @BeforeAll
    static void enableSslOnThePrimary() throws Exception {
        certs = TestCerts.create();
        pgCert = certs.server("postgres", TestCerts.Ca.TEST);
        poolerCert = certs.client("pooler", "pgsvc-pooler", TestCerts.Ca.TEST);
        primary = PgCluster.shared().primary();
        primary.enableSsl(pgCert.certPem(), pgCert.keyPem(), Files.readString(certs.caCert()));
    }

    @AfterAll
    static void disableSsl() throws Exception {
        try {
            primary.disableSsl();
        } finally {
            certs.close();
        }
    }

    /** What pg_stat_ssl says about one backend. */
    record Ssl(boolean ssl, String version, String clientDn) {
    }

    /** The fixture's defaults with these server_tls settings (pairs), and a `replica` database on the replica. */
    private static PoolerFixture pooler(String... keyValues) {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("pool_mode", "session");
        s.put("admin_users", "postgres");
        for (int i = 0; i < keyValues.length; i += 2) {
            s.put(keyValues[i], keyValues[i + 1]);
        }
        return PoolerFixture.builder(s).databases("replica = host=127.0.0.1 port="
                + PgCluster.shared().replica().port() + " dbname=pgsvc\n").start();
    }

    /** pg_stat_ssl of the backend serving a new session through pgsvc to {@code db}. */
    private static Ssl backendSsl(PoolerFixture p, String db) throws SQLException {
        int pid;
        try (Connection c = p.connect(db, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, new java.util.Properties());
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            pid = rs.getInt(1);
            PgServer server = db.equals("replica") ? PgCluster.shared().replica() : primary;
            try (Connection admin = server.connectAdmin(); PreparedStatement ps = admin.prepareStatement(
                    "SELECT ssl, version, client_dn FROM pg_stat_ssl WHERE pid = ?")) {
                ps.setInt(1, pid);
                try (ResultSet r = ps.executeQuery()) {
                    assertTrue(r.next(), "backend " + pid + " in pg_stat_ssl");
                    return new Ssl(r.getBoolean(1), r.getString(2), r.getString(3));
                }
            }
        }
    }

    /**
     * A pool whose server connections fail: the first client waits for its server until client_login_timeout (as
     * in PgBouncer), the ones after it get the cached error at once, which says why.
     */
    private static void assertServerLoginFails(PoolerFixture p, String db, String reason) {
        String expected = "server login has been failing, cached error: " + reason;
        Await.until(WAIT, "a client gets " + expected + "... (server_login_retry)", () -> {
            try {
                backendSsl(p, db);
                return false;
            } catch (PSQLException e) {
                String m = e.getServerErrorMessage() == null ? "" : e.getServerErrorMessage().getMessage();
                return m.startsWith(expected) && m.endsWith(" (server_login_retry)");
            }
        });
    }

    private static List<String> serverTlsColumn(PoolerFixture p) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = ConsoleQueries.console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW SERVERS")) {
            while (rs.next()) {
                out.add(rs.getString("tls"));
            }
        }
        return out;
    }

    @Test
    void preferIsTheDefaultAndEncryptsWhereTheServerCan() throws Exception {
        try (PoolerFixture p = pooler()) {
            Ssl ssl = backendSsl(p, "pgsvc");
            assertTrue(ssl.ssl(), ssl::toString);
            assertTrue(ssl.version().startsWith("TLSv1."), ssl::toString);
            assertNull(ssl.clientDn(), "no client certificate configured");
            List<String> tls = serverTlsColumn(p);
            assertFalse(tls.isEmpty());
            assertTrue(tls.get(0).matches("TLSv1\\.3/TLS_\\w+"), tls::toString);
            // The replica has no TLS: prefer goes on in plaintext.
            assertFalse(backendSsl(p, "replica").ssl());
        }
    }

    @Test
    void disableSendsNoSslRequest() throws Exception {
        try (PoolerFixture p = pooler("server_tls_sslmode", "disable")) {
            assertFalse(backendSsl(p, "pgsvc").ssl());
            assertEquals(List.of(""), serverTlsColumn(p));
        }
    }

    @Test
    void requireRefusesAServerWithoutTls() throws Exception {
        try (PoolerFixture p = pooler("server_tls_sslmode", "require", "client_login_timeout", "1")) {
            assertTrue(backendSsl(p, "pgsvc").ssl());
            assertServerLoginFails(p, "replica", "server refused SSL");
        }
    }

    @Test
    void verifyFullChecksTheCaAndTheHostName() throws Exception {
        try (PoolerFixture p = pooler("server_tls_sslmode", "verify-full",
                "server_tls_ca_file", certs.caCert().toString())) {
            assertTrue(backendSsl(p, "pgsvc").ssl());
        }
        try (PoolerFixture p = pooler("server_tls_sslmode", "verify-ca",
                "server_tls_ca_file", certs.otherCaCert().toString(), "client_login_timeout", "1")) {
            assertServerLoginFails(p, "pgsvc", "TLS handshake error: PKIX path building failed");
        }
        // A certificate of the test CA for another host: verify-ca takes it, verify-full does not.
        TestCerts.Issued elsewhere = certs.serverElsewhere("postgres-elsewhere");
        primary.enableSsl(elsewhere.certPem(), elsewhere.keyPem(), Files.readString(certs.caCert()));
        try {
            try (PoolerFixture p = pooler("server_tls_sslmode", "verify-ca",
                    "server_tls_ca_file", certs.caCert().toString())) {
                assertTrue(backendSsl(p, "pgsvc").ssl());
            }
            try (PoolerFixture p = pooler("server_tls_sslmode", "verify-full",
                    "server_tls_ca_file", certs.caCert().toString(), "client_login_timeout", "1")) {
                assertServerLoginFails(p, "pgsvc", "TLS handshake error: No subject alternative names matching IP "
                        + "address 127.0.0.1 found");
            }
        } finally {
            primary.enableSsl(pgCert.certPem(), pgCert.keyPem(), Files.readString(certs.caCert()));
        }
    }

    @Test
    void aClientCertificateIsPresentedToTheServer() throws Exception {
        try (PoolerFixture p = pooler("server_tls_sslmode", "verify-full",
                "server_tls_ca_file", certs.caCert().toString(),
                "server_tls_cert_file", poolerCert.cert().toString(),
                "server_tls_key_file", poolerCert.key().toString())) {
            Ssl ssl = backendSsl(p, "pgsvc");
            assertTrue(ssl.ssl());
            assertEquals("/CN=pgsvc-pooler", ssl.clientDn());
        }
    }

    @Test
    void bothLegsEncryptedCarryALargeResultWhole() throws Exception {
        TestCerts.Issued poolerServerCert = certs.server("pgsvc-listener", TestCerts.Ca.TEST);
        try (PoolerFixture p = pooler("server_tls_sslmode", "require", "client_tls_sslmode", "require",
                "client_tls_cert_file", poolerServerCert.cert().toString(),
                "client_tls_key_file", poolerServerCert.key().toString());
             Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                     "sslmode", "verify-full", "sslrootcert", certs.caCert().toString());
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT i, md5(i::text) || repeat('x', 200) "
                     + "FROM generate_series(1, 50000) i")) {
            long rows = 0;
            long sum = 0;
            while (rs.next()) {
                rows++;
                sum += rs.getInt(1);
                String v = rs.getString(2);
                assertEquals(232, v.length());
            }
            assertEquals(50000, rows);
            assertEquals(50000L * 50001 / 2, sum);
        }
    }

    @Test
    void reloadWithOtherServerSettingsReconnectsTheServers() throws Exception {
        try (PoolerFixture p = pooler("server_tls_sslmode", "disable")) {
            assertFalse(backendSsl(p, "pgsvc").ssl());
            Path ini = p.dir().resolve("pooler.ini");
            Files.writeString(ini, Files.readString(ini).replace("server_tls_sslmode = disable",
                    "server_tls_sslmode = require"));
            assertTrue(p.pgsvc().reload());
            // The idle plaintext server was closed by the reload; the next session gets a new, encrypted one.
            assertTrue(backendSsl(p, "pgsvc").ssl());
            assertEquals(1, serverTlsColumn(p).size());
            assertNotNull(serverTlsColumn(p).get(0));
            assertTrue(serverTlsColumn(p).get(0).startsWith("TLSv1."));
        }
    }
}
