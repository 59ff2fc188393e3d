package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.ServerErrors.assertFatal;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import javax.net.ssl.SSLSocket;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.TestCerts;
import pgsvc.testing.Tools;

/**
 * TLS between clients and pgsvc, with PgBouncer's settings (client_tls_*) and texts, against real clients: psql,
 * pgjdbc, and a raw JDK TLS socket where the test needs to see or do what drivers hide. Certificates come from a
 * test CA made for the run; another CA stands for everything that must not be trusted.
 */
@ExtendWith(PgClusterExtension.class)
class ClientTlsTest {
    private static final java.time.Duration WAIT = java.time.Duration.ofSeconds(30);

    private static TestCerts certs;
    private static TestCerts.Issued server;
    /** Client certificates named after users: by the test CA, and one by the other CA. */
    private static TestCerts.Issued md5Client;
    private static TestCerts.Issued strangerClient;
    /** pgsvc's log during this class. */
    private static final ListAppender<ILoggingEvent> LOG = new ListAppender<>();

    @BeforeAll
    static void makeCertificates() {
        LOG.start();
        ((Logger) LoggerFactory.getLogger("pgsvc")).addAppender(LOG);
        certs = TestCerts.create();
        server = certs.server("pgsvc", TestCerts.Ca.TEST);
        md5Client = certs.client("md5-client", PgCluster.MD5_USER, TestCerts.Ca.TEST);
        strangerClient = certs.client("stranger", PgCluster.MD5_USER, TestCerts.Ca.OTHER);
    }

    @AfterAll
    static void removeCertificates() {
        ((Logger) LoggerFactory.getLogger("pgsvc")).detachAppender(LOG);
        certs.close();
    }

    /** pgsvc's log lines since {@code from} (an index into the log) that contain {@code text}. */
    private static List<String> logged(int from, String text) {
        List<ILoggingEvent> events;
        synchronized (LOG) {
            events = new ArrayList<>(LOG.list.subList(from, LOG.list.size()));
        }
        return events.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains(text)).toList();
    }

    private static int logMark() {
        synchronized (LOG) {
            return LOG.list.size();
        }
    }

    /** The fixture's defaults with client TLS in this mode, pgsvc's certificate and the test CA. */
    private static Map<String, String> tls(String mode) {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("client_tls_sslmode", mode);
        s.put("client_tls_key_file", server.key().toString());
        s.put("client_tls_cert_file", server.cert().toString());
        s.put("client_tls_ca_file", certs.caCert().toString());
        s.put("admin_users", "postgres");
        return s;
    }

    private static TlsClients.Options trustingTestCa() {
        return TlsClients.Options.trusting(certs.caCert());
    }

    /** The tls column of SHOW CLIENTS for this user's clients, read over the console. */
    private static List<String> tlsColumn(PoolerFixture p, String user) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = ConsoleQueries.console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW CLIENTS")) {
            while (rs.next()) {
                if (rs.getString("user").equals(user)) {
                    out.add(rs.getString("tls"));
                }
            }
        }
        return out;
    }

    private static void assertWorks(PoolerFixture p) throws Exception {
        try (WireClient w = TlsClients.login(p.port(), trustingTestCa().withClientCert(md5Client),
                PgCluster.MD5_USER, PgCluster.MD5_PASSWORD)) {
            assertEquals(List.of("1"), w.query("SELECT 1").orThrow().values());
        }
    }

    @Test
    void psqlAndPgjdbcVerifyPgsvcAndSeeTheirTlsInShowClientsAndTheLog() throws Exception {
        int mark = logMark();
        try (PoolerFixture p = PoolerFixture.start(tls("require"))) {
            ProcResult psql = Tools.psqlArgs(PgCluster.MD5_PASSWORD, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                    "host=127.0.0.1 port=" + p.port() + " dbname=pgsvc user=" + PgCluster.MD5_USER
                            + " sslmode=verify-full sslrootcert=" + certs.caCert(),
                    "-c", "SELECT 'over tls'");
            assertTrue(psql.ok(), psql::describe);
            assertEquals("over tls", psql.value());

            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    "sslmode", "verify-full", "sslrootcert", certs.caCert().toString());
                 Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_user")) {
                rs.next();
                assertEquals(PgCluster.MD5_USER, rs.getString(1));
                List<String> column = tlsColumn(p, PgCluster.MD5_USER);
                assertEquals(1, column.size(), column::toString);
                assertTrue(column.get(0).matches("TLSv1\\.3/TLS_(AES_\\d+_GCM_SHA\\d+|CHACHA20_POLY1305_SHA256)"),
                        column::toString);
            }
        }
        List<String> logins = logged(mark, "login attempt: db=pgsvc user=" + PgCluster.MD5_USER);
        assertEquals(2, logins.size(), logins::toString);
        for (String line : logins) {
            assertTrue(line.matches(".* tls=TLSv1\\.3/TLS_\\w+"), line);
        }
    }

    @Test
    void plaintextIsRefusedWhenTlsIsRequired() throws Exception {
        try (PoolerFixture p = PoolerFixture.start(tls("require"))) {
            try (WireClient w = WireClient.open(p.port())) {
                List<WireClient.Message> login = w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of());
                assertEquals(1, login.size(), login::toString);
                assertFatal("08P01", "SSL required", login.get(0));
                assertArrayEquals(new byte[0], w.readToEof());
            }
            assertFatal("08P01", "SSL required", () -> TlsClients.jdbc(p.port(), PgCluster.MD5_USER,
                    PgCluster.MD5_PASSWORD, "sslmode", "disable").close());
            // A cancel request needs no TLS, as in PgBouncer: it carries nothing but the key.
            try (WireClient w = WireClient.open(p.port())) {
                w.sendCancelRequest(1, 2);
                assertArrayEquals(new byte[0], w.readToEof());
            }
            assertWorks(p);
        }
    }

    @Test
    void aClientThatAsksForTlsAndGoesOnInPlaintextIsRefused() throws Exception {
        // prefer: plaintext is fine without an SSLRequest; after 'S' only a TLS handshake is.
        try (PoolerFixture p = PoolerFixture.start(tls("prefer"))) {
            try (WireClient plain = WireClient.connect(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD)) {
                assertEquals(List.of("1"), plain.query("SELECT 1").orThrow().values());
            }
            try (WireClient w = WireClient.open(p.port())) {
                w.sendSslRequest();
                assertEquals('S', w.readByte());
                w.sendStartup(WireClient.PROTOCOL_3, Map.of("user", PgCluster.MD5_USER, "database", "pgsvc"));
                byte[] answer = w.readToEof();
                // At most a TLS alert (content type 21), never a PostgreSQL message such as an auth request.
                assertTrue(answer.length == 0 || answer[0] == 21, () -> "got " + java.util.Arrays.toString(answer));
            }
            Await.until(WAIT, "the refused client is gone", () -> p.pgsvc().pooler().clientCount() == 0);
            assertWorks(p);
        }
    }

    @Test
    void certificatesFromAnotherCaAreRefused() throws Exception {
        try (PoolerFixture p = PoolerFixture.start(tls("verify-full"))) {
            // verify-full asks every client for a certificate by the test CA.
            int mark = logMark();
            assertThrows(IOException.class, () -> TlsClients.login(p.port(),
                    trustingTestCa().withClientCert(strangerClient), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            Await.until(WAIT, "the handshake error is logged",
                    () -> !logged(mark, "TLS handshake error").isEmpty());
            List<String> refused = logged(mark, "TLS handshake error");
            assertTrue(refused.get(0).contains("certification path"), refused::toString);
            assertThrows(IOException.class, () -> TlsClients.login(p.port(), trustingTestCa(),
                    PgCluster.MD5_USER, PgCluster.MD5_PASSWORD));
            // pgjdbc does not even send a certificate whose CA the server's request does not name.
            assertThrows(java.sql.SQLException.class, () -> TlsClients.jdbc(p.port(), PgCluster.MD5_USER,
                    PgCluster.MD5_PASSWORD, "sslmode", "verify-full", "sslrootcert", certs.caCert().toString(),
                    "sslcert", strangerClient.cert().toString(), "sslkey", strangerClient.keyDer().toString())
                    .close());
            // And a client that trusts only the other CA does not accept pgsvc's certificate.
            assertThrows(IOException.class, () -> TlsClients.connect(p.port(),
                    TlsClients.Options.trusting(certs.otherCaCert())).close());

            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    "sslmode", "verify-full", "sslrootcert", certs.caCert().toString(),
                    "sslcert", md5Client.cert().toString(), "sslkey", md5Client.keyDer().toString());
                 Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 2")) {
                rs.next();
                assertEquals(2, rs.getInt(1));
            }
            try (SSLSocket s = TlsClients.connect(p.port(), TlsClients.Options.trusting(null)
                    .withClientCert(md5Client))) {
                assertEquals(TlsClients.certificate(server.cert()), s.getSession().getPeerCertificates()[0]);
            }
            Await.until(WAIT, "refused clients are gone", () -> p.pgsvc().pooler().clientCount() == 0);
            assertWorks(p);
        }
    }

    @Test
    void certAuthenticationLogsInTheUserTheCertificateNames() throws Exception {
        Map<String, String> s = tls("verify-full");
        s.put("auth_type", "cert");
        try (PoolerFixture p = PoolerFixture.start(s)) {
            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, null,
                    "sslmode", "verify-full", "sslrootcert", certs.caCert().toString(),
                    "sslcert", md5Client.cert().toString(), "sslkey", md5Client.keyDer().toString());
                 Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_user")) {
                rs.next();
                assertEquals(PgCluster.MD5_USER, rs.getString(1));
            }
            // The certificate names pgsvc_md5; logging in as another user with it fails.
            assertFatal("08P01", "certificate authentication failed", () -> TlsClients.jdbc(p.port(),
                    PgCluster.SCRAM_USER, null, "sslmode", "verify-full", "sslrootcert", certs.caCert().toString(),
                    "sslcert", md5Client.cert().toString(), "sslkey", md5Client.keyDer().toString()).close());
            try (WireClient w = WireClient.over(TlsClients.connect(p.port(),
                    trustingTestCa().withClientCert(md5Client)))) {
                List<WireClient.Message> login = w.login(PgCluster.TRUST_USER, "", Map.of());
                assertFatal("08P01", "certificate authentication failed", login.get(login.size() - 1));
            }
            assertWorks(p);
        }
    }

    @Test
    void theHbaFileTellsTlsFromPlaintextAndChecksCertificates() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-tls-hba");
        Path hba = Files.writeString(dir.resolve("hba.conf"), String.join("\n",
                "hostssl    all  " + PgCluster.MD5_USER + "  127.0.0.1/32  cert",
                "hostssl    all  all  127.0.0.1/32  scram-sha-256",
                "hostnossl  all  all  127.0.0.1/32  reject",
                ""));
        Map<String, String> s = tls("allow");
        s.put("auth_type", "hba");
        s.put("auth_hba_file", hba.toString());
        try (PoolerFixture p = PoolerFixture.start(s)) {
            assertFatal("08P01", "login rejected", () -> TlsClients.jdbc(p.port(), PgCluster.SCRAM_USER,
                    PgCluster.SCRAM_PASSWORD, "sslmode", "disable").close());
            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD,
                    "sslmode", "require")) {
                assertTrue(c.isValid(10));
            }
            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, null, "sslmode", "verify-full",
                    "sslrootcert", certs.caCert().toString(), "sslcert", md5Client.cert().toString(),
                    "sslkey", md5Client.keyDer().toString())) {
                assertTrue(c.isValid(10));
            }
            // allow asks for a client certificate but lets a client without one in; the cert line then refuses.
            try (WireClient w = WireClient.over(TlsClients.connect(p.port(), trustingTestCa()))) {
                List<WireClient.Message> login = w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of());
                assertFatal("08P01", "certificate authentication failed", login.get(login.size() - 1));
            }
        }
    }

    @Test
    void unixSocketClientsNeverUseTls() throws Exception {
        Path socketDir = Files.createTempDirectory("pgsvc-tls-sock");
        Map<String, String> s = tls("require");
        s.put("unix_socket_dir", socketDir.toString());
        try (PoolerFixture p = PoolerFixture.start(s)) {
            ProcResult psql = Tools.psqlArgs(PgCluster.MD5_PASSWORD, "-X", "-A", "-t", "-h", socketDir.toString(),
                    "-p", Integer.toString(p.port()), "-U", PgCluster.MD5_USER, "-d", "pgsvc", "-c", "SELECT 3");
            assertTrue(psql.ok(), psql::describe);
            assertEquals("3", psql.value());
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(socketDir.resolve(".s.PGSQL." + p.port())));
                ch.write(ByteBuffer.allocate(8).putInt(8).putInt(80877103).flip());
                ByteBuffer answer = ByteBuffer.allocate(1);
                while (answer.hasRemaining() && ch.read(answer) >= 0) {
                    // one byte
                }
                assertEquals('N', answer.get(0));
            }
        }
    }

    @Test
    void directTlsNeedsAlpnPostgresql() throws Exception {
        try (PoolerFixture p = PoolerFixture.start(tls("require"))) {
            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    "sslmode", "verify-full", "sslrootcert", certs.caCert().toString(), "sslNegotiation", "direct");
                 Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 'direct'")) {
                rs.next();
                assertEquals("direct", rs.getString(1));
            }
            try (WireClient w = TlsClients.login(p.port(), trustingTestCa().viaDirectTls().withAlpn("postgresql"),
                    PgCluster.MD5_USER, PgCluster.MD5_PASSWORD)) {
                assertEquals(List.of("4"), w.query("SELECT 4").orThrow().values());
            }
            // Without ALPN the handshake completes but the connection is closed before any login.
            try (WireClient w = WireClient.over(TlsClients.connect(p.port(), trustingTestCa().viaDirectTls()))) {
                w.sendStartup(WireClient.PROTOCOL_3, Map.of("user", PgCluster.MD5_USER, "database", "pgsvc"));
                assertArrayEquals(new byte[0], w.readToEof());
            }
            // Another application protocol is refused in the handshake, on either path.
            assertThrows(IOException.class, () -> TlsClients.connect(p.port(),
                    trustingTestCa().viaDirectTls().withAlpn("http/1.1")).close());
            assertThrows(IOException.class, () -> TlsClients.connect(p.port(),
                    trustingTestCa().withAlpn("http/1.1")).close());
            // After an SSLRequest, ALPN is optional (libpq 17 sends it, older clients do not).
            try (WireClient w = TlsClients.login(p.port(), trustingTestCa().withAlpn("postgresql"),
                    PgCluster.MD5_USER, PgCluster.MD5_PASSWORD)) {
                assertEquals(List.of("5"), w.query("SELECT 5").orThrow().values());
            }
            Await.until(WAIT, "refused clients are gone", () -> p.pgsvc().pooler().clientCount() == 0);
        }
    }

    @Test
    void protocolsAndCiphersAreTheConfiguredOnes() throws Exception {
        Map<String, String> s = tls("require");
        s.put("client_tls_protocols", "tlsv1.2");
        s.put("client_tls_ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256:HIGH");
        try (PoolerFixture p = PoolerFixture.start(s)) {
            try (SSLSocket tls = TlsClients.connect(p.port(), trustingTestCa());
                 WireClient w = WireClient.over(tls)) {
                assertEquals("TLSv1.2", tls.getSession().getProtocol());
                assertEquals("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", tls.getSession().getCipherSuite());
                List<WireClient.Message> login = w.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of());
                assertEquals('Z', login.get(login.size() - 1).type());
                assertEquals(List.of("TLSv1.2/ECDHE-ECDSA-AES128-GCM-SHA256"), tlsColumn(p, PgCluster.MD5_USER));
            }
            assertThrows(IOException.class, () -> TlsClients.connect(p.port(),
                    trustingTestCa().withProtocols("TLSv1.3")).close());
        }
        s = tls("require");
        s.put("client_tls13_ciphers", "TLS_CHACHA20_POLY1305_SHA256");
        try (PoolerFixture p = PoolerFixture.start(s);
             SSLSocket tls = TlsClients.connect(p.port(), trustingTestCa())) {
            assertEquals("TLSv1.3", tls.getSession().getProtocol());
            assertEquals("TLS_CHACHA20_POLY1305_SHA256", tls.getSession().getCipherSuite());
        }
    }

    @Test
    void reloadReadsTheCertificateFilesAgainForNewConnections() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-tls-reload");
        Path cert = dir.resolve("server.crt");
        Path key = dir.resolve("server.key");
        Files.copy(server.cert(), cert);
        Files.copy(server.key(), key);
        Map<String, String> s = tls("require");
        s.put("client_tls_cert_file", cert.toString());
        s.put("client_tls_key_file", key.toString());
        try (PoolerFixture p = PoolerFixture.start(s);
             WireClient before = TlsClients.login(p.port(), trustingTestCa(), PgCluster.MD5_USER,
                     PgCluster.MD5_PASSWORD)) {
            TestCerts.Issued renewed = certs.server("pgsvc-renewed", TestCerts.Ca.TEST);
            Files.copy(renewed.cert(), cert, StandardCopyOption.REPLACE_EXISTING);
            Files.copy(renewed.key(), key, StandardCopyOption.REPLACE_EXISTING);
            assertEquals(TlsClients.certificate(server.cert()), peerCertificate(p));
            assertTrue(p.pgsvc().reload());
            assertEquals(TlsClients.certificate(renewed.cert()), peerCertificate(p));
            assertNotEquals(TlsClients.certificate(server.cert()), TlsClients.certificate(renewed.cert()));
            // The connection made before keeps its session.
            assertEquals(List.of("6"), before.query("SELECT 6").orThrow().values());

            // A key that cannot be read fails the RELOAD whole: the running contexts stay.
            Files.writeString(key, "not a key\n");
            assertFalse(p.pgsvc().reload());
            assertEquals(TlsClients.certificate(renewed.cert()), peerCertificate(p));
            assertWorks(p);
        }
    }

    @Test
    void setOnTheConsoleChangesTheClientModeForNewConnections() throws Exception {
        try (PoolerFixture p = PoolerFixture.start(tls("require"))) {
            assertFatal("08P01", "SSL required", () -> TlsClients.jdbc(p.port(), PgCluster.MD5_USER,
                    PgCluster.MD5_PASSWORD, "sslmode", "disable").close());
            try (Connection console = ConsoleQueries.console(p); Statement st = console.createStatement()) {
                st.execute("SET client_tls_sslmode = 'allow'");
            }
            try (Connection c = TlsClients.jdbc(p.port(), PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    "sslmode", "disable")) {
                assertTrue(c.isValid(10));
            }
            try (Connection console = ConsoleQueries.console(p); Statement st = console.createStatement()) {
                st.execute("SET client_tls_sslmode = 'disable'");
            }
            // An SSLRequest is answered 'N' again.
            try (WireClient w = WireClient.open(p.port())) {
                w.sendSslRequest();
                assertEquals('N', w.readByte());
            }
        }
    }

    private static java.security.cert.Certificate peerCertificate(PoolerFixture p) throws Exception {
        try (SSLSocket s = TlsClients.connect(p.port(), trustingTestCa())) {
            return s.getSession().getPeerCertificates()[0];
        }
    }
}
