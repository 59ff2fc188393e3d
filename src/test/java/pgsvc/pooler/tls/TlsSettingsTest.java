package pgsvc.pooler.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import io.netty.handler.ssl.SslContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConfigException;
import pgsvc.testing.TestCerts;

/** The TLS settings as PgBouncer takes them, in the JDK's terms; and the key files the JDK cannot read by itself. */
class TlsSettingsTest {
    private static TestCerts certs;
    private static TestCerts.Issued server;

    @TempDir
    Path dir;

    @BeforeAll
    static void makeCertificates() {
        certs = TestCerts.create();
        server = certs.server("server", TestCerts.Ca.TEST);
    }

    @AfterAll
    static void removeCertificates() {
        certs.close();
    }

    private Config config(String... lines) throws Exception {
        return Config.load(Files.writeString(dir.resolve("pgbouncer.ini"),
                "[pgbouncer]\n" + String.join("\n", lines) + "\n"));
    }

    private String clientTls(String mode) {
        return "client_tls_sslmode = " + mode;
    }

    private String files() {
        return "client_tls_key_file = " + server.key() + "\nclient_tls_cert_file = " + server.cert();
    }

    private String problem(String... lines) throws Exception {
        Config c = config(lines);
        ConfigException e = assertThrows(ConfigException.class, () -> Tls.load(c));
        return e.problem();
    }

    @Test
    void protocolListsFollowLibtls() {
        assertEquals(List.of("TLSv1.2", "TLSv1.3"), TlsNames.protocols("secure"));
        assertEquals(List.of("TLSv1.2", "TLSv1.3"), TlsNames.protocols(""));
        assertEquals(List.of("TLSv1.2", "TLSv1.3"), TlsNames.protocols("default"));
        assertEquals(List.of("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"), TlsNames.protocols("all"));
        assertEquals(List.of("TLSv1.3"), TlsNames.protocols("tlsv1.3"));
        assertEquals(List.of("TLSv1.2", "TLSv1.3"), TlsNames.protocols("TLSv1.3,tlsv1.2"));
        assertEquals(List.of("TLSv1.2"), TlsNames.protocols("secure:!tlsv1.3"));
        assertEquals(List.of("TLSv1", "TLSv1.1", "TLSv1.2"), TlsNames.protocols("all,-tlsv1.3"));
        assertThrows(IllegalArgumentException.class, () -> TlsNames.protocols("sslv3"));
        assertThrows(IllegalArgumentException.class, () -> TlsNames.protocols("tlsv1.2,!tlsv1.2"));
    }

    @Test
    void openSslCipherNamesAreMappedAndKeywordsNamedInAWarning() {
        Set<String> supported = Set.of("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384");
        List<String> warnings = new ArrayList<>();
        assertEquals(List.of("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_AES_256_GCM_SHA384"), TlsNames.ciphers("client_tls_ciphers",
                "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:HIGH:!aNULL,TLS_AES_256_GCM_SHA384"
                        + ":ECDHE-ECDSA-AES128-CCM8", supported, warnings));
        assertEquals(3, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("keyword HIGH"), warnings.toString());
        assertTrue(warnings.get(2).contains("ECDHE-ECDSA-AES128-CCM8 is not available"), warnings.toString());
        for (String dflt : List.of("default", "secure", "fast", "normal", "all", "")) {
            assertTrue(TlsNames.ciphers("x", dflt, supported, warnings).isEmpty(), dflt);
        }
        assertEquals("ECDHE-RSA-AES256-GCM-SHA384", TlsNames.openSslName("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"));
        assertEquals("AES128-SHA", TlsNames.openSslName("TLS_RSA_WITH_AES_128_CBC_SHA"));
        assertEquals("TLS_AES_128_GCM_SHA256", TlsNames.openSslName("TLS_AES_128_GCM_SHA256"));
    }

    @Test
    void pgbouncersSetupChecks() throws Exception {
        assertEquals("To allow TLS connections from clients, client_tls_key_file and client_tls_cert_file must "
                + "be set.", problem(clientTls("require"), "client_tls_cert_file = " + server.cert()));
        assertEquals("auth_type=cert requires client_tls_sslmode=verify-full",
                problem("auth_type = cert", clientTls("verify-ca"), files(),
                        "client_tls_ca_file = " + certs.caCert()));
        assertEquals("auth_type=cert requires client_tls_ca_file",
                problem("auth_type = cert", clientTls("verify-full"), files()));
        assertEquals("client_tls_sslmode requires client_tls_ca_file", problem(clientTls("verify-full"), files()));
        assertEquals("invalid client_tls_protocols: tlsv9", problem(clientTls("require"), files(),
                "client_tls_protocols = tlsv9"));
        assertEquals("invalid server_tls_protocols: nope", problem("server_tls_protocols = nope"));
        assertEquals("invalid client_tls_ciphers: no cipher the JDK supports in ECDHE-ECDSA-AES128-CCM8",
                problem(clientTls("require"), files(), "client_tls_ciphers = ECDHE-ECDSA-AES128-CCM8"));
        assertEquals("invalid client_tls_dheparams: huge", problem(clientTls("require"), files(),
                "client_tls_dheparams = huge"));
        String missing = dir.resolve("missing.crt").toString();
        assertEquals("invalid client_tls_cert_file: " + missing + ": no such file", problem(clientTls("require"),
                "client_tls_key_file = " + server.key(), "client_tls_cert_file = " + missing));
        assertEquals("server_tls_key_file and server_tls_cert_file must be set together",
                problem("server_tls_key_file = " + server.key()));
    }

    @Test
    void aDisabledSideReadsNoFiles() throws Exception {
        // Pigsty's template names certificate files that need not exist while client TLS is off.
        Tls tls = Tls.load(config(clientTls("disable"), "client_tls_cert_file = /nonexistent/server.crt",
                "client_tls_key_file = /nonexistent/server.key", "server_tls_sslmode = disable",
                "server_tls_ca_file = /nonexistent/ca.crt"));
        assertFalse(tls.acceptsClients());
        assertFalse(tls.connectsWithTls("127.0.0.1"));
    }

    @Test
    void defaultsConnectWithTlsOverTcpOnly() throws Exception {
        Tls tls = Tls.load(config());
        assertEquals(SslMode.PREFER, tls.serverMode());
        assertEquals(SslMode.DISABLE, tls.clientMode());
        assertTrue(tls.connectsWithTls("127.0.0.1"));
        assertTrue(tls.connectsWithTls("db.example.com"));
        assertFalse(tls.connectsWithTls("/var/run/postgresql"));
        assertFalse(tls.connectsWithTls(null));
        assertTrue(tls.warnings().isEmpty(), tls.warnings().toString());
        // Built aside, off the path to listening: ready for the first server that answers 'S'.
        SslContext context = tls.serverContext().get(30, TimeUnit.SECONDS);
        assertTrue(context.isClient());
    }

    @Test
    void serverFilesOfTheUsersAreStillCheckedAtStart() throws Exception {
        // Only the all-defaults server side is built aside; a file the user names fails the start as before.
        String missing = dir.resolve("missing-ca.crt").toString();
        assertEquals("invalid server_tls_ca_file: " + missing + ": no such file",
                problem("server_tls_sslmode = verify-ca", "server_tls_ca_file = " + missing));
        assertEquals("invalid server_tls_cert_file: " + missing + ": no such file",
                problem("server_tls_key_file = " + server.key(), "server_tls_cert_file = " + missing));
    }

    @Test
    void onlyServerSettingsMakeServersReconnect() throws Exception {
        Tls base = Tls.load(config(clientTls("require"), files()));
        assertFalse(base.serverSettingsDiffer(Tls.load(config(clientTls("allow"), files()))));
        assertTrue(base.serverSettingsDiffer(Tls.load(config(clientTls("require"), files(),
                "server_tls_sslmode = require"))));
    }

    @Test
    void curveAndDhSettingsTheJdkCannotApplyAreNamed() throws Exception {
        Tls tls = Tls.load(config(clientTls("require"), files(), "client_tls_ecdhcurve = secp384r1",
                "client_tls_dheparams = legacy"));
        assertEquals(2, tls.warnings().size(), tls.warnings().toString());
        Tls none = Tls.load(config(clientTls("require"), files(), "client_tls_ecdhcurve = none",
                "client_tls_dheparams = none"));
        assertTrue(none.warnings().isEmpty(), none.warnings().toString());
    }

    @Test
    void keysInPkcs8Pkcs1AndSec1FormsAreRead() throws Exception {
        Path rsa1 = dir.resolve("rsa1.key");
        TestCerts.openssl("genrsa", "-traditional", "-out", rsa1.toString(), "2048");
        assertTrue(Files.readString(rsa1).contains("BEGIN RSA PRIVATE KEY"));
        Path rsaCert = dir.resolve("rsa.crt");
        TestCerts.openssl("req", "-x509", "-key", rsa1.toString(), "-out", rsaCert.toString(), "-days", "1",
                "-subj", "/CN=rsa");
        matches(PemFiles.privateKey(rsa1, null), PemFiles.certificates(rsaCert).get(0), "SHA256withRSA");

        Path sec1 = dir.resolve("ec1.key");
        TestCerts.openssl("ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", sec1.toString());
        assertTrue(Files.readString(sec1).contains("BEGIN EC PRIVATE KEY"));
        Path ecCert = dir.resolve("ec.crt");
        TestCerts.openssl("req", "-x509", "-key", sec1.toString(), "-out", ecCert.toString(), "-days", "1",
                "-subj", "/CN=ec");
        matches(PemFiles.privateKey(sec1, null), PemFiles.certificates(ecCert).get(0), "SHA384withECDSA");

        assertTrue(Files.readString(server.key()).contains("BEGIN PRIVATE KEY"));
        matches(PemFiles.privateKey(server.key(), "EC"), PemFiles.certificates(server.cert()).get(0),
                "SHA256withECDSA");

        Path encrypted = dir.resolve("enc.key");
        TestCerts.openssl("pkcs8", "-topk8", "-in", server.key().toString(), "-out", encrypted.toString(),
                "-passout", "pass:secret");
        GeneralSecurityException e = assertThrows(GeneralSecurityException.class,
                () -> PemFiles.privateKey(encrypted, null));
        assertEquals("encrypted private keys are not supported", e.getMessage());
    }

    /** The key signs what the certificate's public key verifies: the two belong together. */
    private static void matches(PrivateKey key, X509Certificate cert, String algorithm) throws Exception {
        byte[] data = "pgsvc".getBytes();
        Signature sign = Signature.getInstance(algorithm);
        sign.initSign(key);
        sign.update(data);
        byte[] sig = sign.sign();
        Signature verify = Signature.getInstance(algorithm);
        verify.initVerify(cert.getPublicKey());
        verify.update(data);
        assertTrue(verify.verify(sig));
    }
}
