package pgsvc.it;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509TrustManager;

import pgsvc.testing.TestCerts;

/**
 * Clients that speak TLS to pgsvc: pgjdbc with its TLS properties, and a raw {@link WireClient} inside a JDK
 * SSLSocket for what a driver does not show (the negotiated protocol and cipher, the certificate pgsvc sent, a
 * handshake that is refused, direct TLS with or without ALPN).
 */
final class TlsClients {
    private TlsClients() {
    }

    /** What a raw TLS client offers. */
    record Options(Path trustedCa, TestCerts.Issued clientCert, String[] alpn, String[] protocols, boolean direct) {
        static Options trusting(Path ca) {
            return new Options(ca, null, null, null, false);
        }

        Options withClientCert(TestCerts.Issued cert) {
            return new Options(trustedCa, cert, alpn, protocols, direct);
        }

        Options withAlpn(String... names) {
            return new Options(trustedCa, clientCert, names, protocols, direct);
        }

        Options withProtocols(String... names) {
            return new Options(trustedCa, clientCert, alpn, names, direct);
        }

        /** PostgreSQL 17's sslnegotiation=direct: the ClientHello first, no SSLRequest. */
        Options viaDirectTls() {
            return new Options(trustedCa, clientCert, alpn, protocols, true);
        }
    }

    /**
     * Connects, asks for TLS with an SSLRequest (unless direct), and completes the handshake; the socket is ready
     * for the StartupMessage. A refused handshake throws.
     */
    static SSLSocket connect(int port, Options o) throws Exception {
        Socket plain = new Socket();
        try {
            plain.setSoTimeout(WireClient.TIMEOUT_MILLIS);
            plain.connect(new InetSocketAddress("127.0.0.1", port), WireClient.TIMEOUT_MILLIS);
            if (!o.direct()) {
                plain.getOutputStream().write(ByteBuffer.allocate(8).putInt(8).putInt(80877103).array());
                int answer = new DataInputStream(plain.getInputStream()).read();
                if (answer != 'S') {
                    throw new IOException("SSLRequest answered " + (answer < 0 ? "EOF" : "'" + (char) answer + "'"));
                }
            }
            SSLSocket tls = (SSLSocket) context(o).getSocketFactory().createSocket(plain, "127.0.0.1", port, true);
            SSLParameters params = tls.getSSLParameters();
            if (o.alpn() != null) {
                params.setApplicationProtocols(o.alpn());
            }
            if (o.protocols() != null) {
                params.setProtocols(o.protocols());
            }
            tls.setSSLParameters(params);
            tls.setUseClientMode(true);
            tls.startHandshake();
            return tls;
        } catch (Exception e) {
            plain.close();
            throw e;
        }
    }

    /** A logged-in raw client inside TLS. */
    static WireClient login(int port, Options o, String user, String password) throws Exception {
        WireClient w = WireClient.over(connect(port, o));
        var login = w.login(user, password, java.util.Map.of());
        WireClient.Message last = login.get(login.size() - 1);
        if (last.type() != 'Z') {
            w.close();
            throw new IOException("login failed: " + (last.type() == 'E' ? last.fields() : "" + last.type()));
        }
        return w;
    }

    private static SSLContext context(Options o) throws Exception {
        TrustManager[] trust;
        if (o.trustedCa() == null) {
            trust = new TrustManager[] {new X509TrustManager() {
                @Override
                public void checkClientTrusted(X509Certificate[] chain, String authType) {
                }

                @Override
                public void checkServerTrusted(X509Certificate[] chain, String authType) {
                }

                @Override
                public X509Certificate[] getAcceptedIssuers() {
                    return new X509Certificate[0];
                }
            }};
        } else {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setCertificateEntry("ca", certificate(o.trustedCa()));
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            trust = tmf.getTrustManagers();
        }
        javax.net.ssl.KeyManager[] keys = null;
        if (o.clientCert() != null) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            X509Certificate cert = certificate(o.clientCert().cert());
            PrivateKey key = KeyFactory.getInstance(cert.getPublicKey().getAlgorithm())
                    .generatePrivate(new PKCS8EncodedKeySpec(Files.readAllBytes(o.clientCert().keyDer())));
            ks.setKeyEntry("client", key, new char[0], new Certificate[] {cert});
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, new char[0]);
            X509ExtendedKeyManager chosen = (X509ExtendedKeyManager) kmf.getKeyManagers()[0];
            // Sent even when the server's CertificateRequest names other CAs (the JDK would send none then), so
            // that a certificate of a CA pgsvc does not trust really reaches pgsvc.
            keys = new javax.net.ssl.KeyManager[] {new X509ExtendedKeyManager() {
                @Override
                public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
                    return "client";
                }

                @Override
                public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
                    return "client";
                }

                @Override
                public String[] getClientAliases(String keyType, Principal[] issuers) {
                    return new String[] {"client"};
                }

                @Override
                public String[] getServerAliases(String keyType, Principal[] issuers) {
                    return null;
                }

                @Override
                public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
                    return null;
                }

                @Override
                public X509Certificate[] getCertificateChain(String alias) {
                    return chosen.getCertificateChain(alias);
                }

                @Override
                public PrivateKey getPrivateKey(String alias) {
                    return chosen.getPrivateKey(alias);
                }
            }};
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(keys, trust, null);
        return ctx;
    }

    static X509Certificate certificate(Path pem) throws Exception {
        try (var in = Files.newInputStream(pem)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    /** pgjdbc to database pgsvc with these extra properties (sslmode, sslrootcert, sslcert, sslkey, ...). */
    static Connection jdbc(int port, String user, String password, String... keyValues) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        if (password != null) {
            p.setProperty("password", password);
        }
        p.setProperty("prepareThreshold", "0");
        p.setProperty("connectTimeout", "20");
        p.setProperty("socketTimeout", "60");
        for (int i = 0; i < keyValues.length; i += 2) {
            p.setProperty(keyValues[i], keyValues[i + 1]);
        }
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/pgsvc", p);
    }
}
