package pgsvc.pooler.tls;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.IdentityCipherSuiteFilter;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConfigException;

/**
 * The TLS side of one configuration snapshot: the context clients are accepted with (client_tls_*) and the one
 * PostgreSQL is connected with (server_tls_*), built with the JDK's TLS engine. Immutable; RELOAD builds a new one,
 * reading the certificate and key files again, and connections keep the context they started with.
 *
 * <p>The JDK engine rather than netty-tcnative (OpenSSL): no native dependency beside epoll, and a handshake costs
 * once per connection while pooled connections live long. What the JDK cannot do is said where it matters:
 * OpenSSL cipher keywords ({@link TlsNames}), and a chosen ECDH curve or 1024-bit DH parameters, which JDK 17 only
 * sets for the whole process ({@code -Djdk.tls.namedGroups}); {@code none} for either is applied by leaving the
 * ECDHE or DHE suites out.
 */
public final class Tls {
    /** The ALPN protocol PostgreSQL 17 clients offer, and require for direct TLS. */
    public static final String ALPN_POSTGRESQL = "postgresql";

    /** The server_tls_* settings beside the sslmode. */
    private static final List<String> SERVER_FILES_AND_SUITES = List.of("server_tls_ca_file", "server_tls_key_file",
            "server_tls_cert_file", "server_tls_protocols", "server_tls_ciphers", "server_tls13_ciphers");

    private static final Tls DISABLED = new Tls(SslMode.DISABLE, null, SslMode.DISABLE, null, "", List.of());

    private final SslMode clientMode;
    private final SslContext clientContext;
    private final SslMode serverMode;
    /** Null when disabled; may still be building (see {@link #load}). */
    private final CompletableFuture<SslContext> serverContext;
    /** The server_tls_* values: a change of any of them makes RELOAD reconnect the servers, as in PgBouncer. */
    private final String serverSettings;
    private final List<String> warnings;

    private Tls(SslMode clientMode, SslContext clientContext, SslMode serverMode,
                CompletableFuture<SslContext> serverContext,
                String serverSettings, List<String> warnings) {
        this.clientMode = clientMode;
        this.clientContext = clientContext;
        this.serverMode = serverMode;
        this.serverContext = serverContext;
        this.serverSettings = serverSettings;
        this.warnings = List.copyOf(warnings);
    }

    /** No TLS either way (a pooler built without a configuration's TLS settings). */
    public static Tls disabled() {
        return DISABLED;
    }

    /**
     * Builds both contexts from the settings, checked as PgBouncer's sbuf_tls_setup checks them; files are read
     * only for a side whose sslmode is not {@code disable}.
     *
     * <p>The one case left to build on a thread of its own is the default server side (server_tls_sslmode
     * {@code prefer}, or any mode with no file, cipher or protocol setting): nothing in it can be wrong, and the
     * JDK's TLS machinery takes about half a second to start, which would otherwise come before pgsvc listens.
     * The first connection to PostgreSQL that gets 'S' waits for it without blocking its event loop.
     *
     * @throws ConfigException naming the setting at fault
     */
    public static Tls load(Config config) throws ConfigException {
        Path file = config.file();
        List<String> warnings = new ArrayList<>();
        SslMode clientMode = SslMode.of(config.get("client_tls_sslmode"));
        SslMode serverMode = SslMode.of(config.get("server_tls_sslmode"));
        String clientKey = value(config, "client_tls_key_file");
        String clientCert = value(config, "client_tls_cert_file");
        String clientCa = value(config, "client_tls_ca_file");
        if (clientMode != SslMode.DISABLE && (clientKey.isEmpty() || clientCert.isEmpty())) {
            throw new ConfigException(file, "To allow TLS connections from clients, client_tls_key_file and "
                    + "client_tls_cert_file must be set.");
        }
        if (config.authType().equals("cert")) {
            if (clientMode != SslMode.VERIFY_FULL) {
                throw new ConfigException(file, "auth_type=cert requires client_tls_sslmode=verify-full");
            }
            if (clientCa.isEmpty()) {
                throw new ConfigException(file, "auth_type=cert requires client_tls_ca_file");
            }
        } else if (clientMode == SslMode.VERIFY_FULL && clientCa.isEmpty()) {
            throw new ConfigException(file, "client_tls_sslmode requires client_tls_ca_file");
        }
        SslContext client = null;
        if (clientMode != SslMode.DISABLE) {
            client = clientContext(config, clientMode, clientKey, clientCert, clientCa, warnings);
        }
        CompletableFuture<SslContext> server = null;
        if (serverMode != SslMode.DISABLE) {
            SslContextBuilder b = serverSide(config, serverMode, warnings);
            server = serverDefaults(config) ? buildAside(file, b)
                    : CompletableFuture.completedFuture(build(file, "server_tls", b));
        }
        StringBuilder serverSettings = new StringBuilder();
        serverSettings.append("server_tls_sslmode=").append(value(config, "server_tls_sslmode")).append('\n');
        for (String key : SERVER_FILES_AND_SUITES) {
            serverSettings.append(key).append('=').append(value(config, key)).append('\n');
        }
        return new Tls(clientMode, client, serverMode, server, serverSettings.toString(), warnings);
    }

    /** The context pgsvc accepts clients with: its certificate, and the client certificates it asks for. */
    private static SslContext clientContext(Config config, SslMode mode, String keyFile, String certFile,
            String caFile, List<String> warnings) throws ConfigException {
        Path file = config.file();
        List<X509Certificate> chain = certificates(file, "client_tls_cert_file", certFile);
        PrivateKey key = privateKey(file, "client_tls_key_file", keyFile, chain.get(0));
        SslContextBuilder b = SslContextBuilder.forServer(key, chain).sslProvider(SslProvider.JDK);
        // A client certificate is asked for when it can be checked: always for verify-*, else when there is a CA
        // (cert authentication in the HBA file). One that does not chain to the CA fails the handshake.
        if (!caFile.isEmpty()) {
            b.trustManager(certificates(file, "client_tls_ca_file", caFile));
        }
        b.clientAuth(mode.verifies() ? ClientAuth.REQUIRE : caFile.isEmpty() ? ClientAuth.NONE : ClientAuth.OPTIONAL);
        b.protocols(protocols(file, "client_tls_protocols", config.get("client_tls_protocols")));
        List<String> suites = suites(file, "client_tls", config, warnings);
        String curve = value(config, "client_tls_ecdhcurve").toLowerCase(Locale.ROOT);
        String dh = value(config, "client_tls_dheparams").toLowerCase(Locale.ROOT);
        if (!List.of("", "auto", "none", "legacy").contains(dh)) {
            throw new ConfigException(file, "invalid client_tls_dheparams: " + config.get("client_tls_dheparams"));
        }
        if (dh.equals("legacy")) {
            warnings.add("client_tls_dheparams: legacy (1024-bit DH) is not applied; the JDK uses 2048-bit groups");
        }
        if (!curve.isEmpty() && !curve.equals("auto") && !curve.equals("none")) {
            warnings.add("client_tls_ecdhcurve: " + curve + " is not applied; the JDK negotiates the curve "
                    + "(-Djdk.tls.namedGroups sets the list for the whole process)");
        }
        if (curve.equals("none") || dh.equals("none")) {
            // "none" takes a key exchange away: leave its TLS 1.2 suites out (TLS 1.3 always uses (EC)DHE).
            List<String> all = suites.isEmpty() ? defaultSuites() : suites;
            suites = new ArrayList<>();
            for (String s : all) {
                if (!(curve.equals("none") && s.contains("_ECDHE_")) && !(dh.equals("none") && s.contains("_DHE_"))) {
                    suites.add(s);
                }
            }
        }
        if (!suites.isEmpty()) {
            b.ciphers(suites, IdentityCipherSuiteFilter.INSTANCE);
        }
        // ALPN as PostgreSQL 17: a client that offers it must offer "postgresql"; direct TLS must use it.
        b.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.FATAL_ALERT,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ALPN_POSTGRESQL));
        return build(file, "client_tls", b);
    }

    /** The context pgsvc connects to PostgreSQL with, checked, not yet built: the server's certificate as the mode says. */
    private static SslContextBuilder serverSide(Config config, SslMode mode, List<String> warnings)
            throws ConfigException {
        Path file = config.file();
        SslContextBuilder b = SslContextBuilder.forClient().sslProvider(SslProvider.JDK);
        String ca = value(config, "server_tls_ca_file");
        if (mode.verifies()) {
            if (!ca.isEmpty()) {
                b.trustManager(certificates(file, "server_tls_ca_file", ca));
            }
        } else {
            // allow, prefer, require: encrypted, but the certificate is not checked (PgBouncer's noverifycert).
            b.trustManager(InsecureTrustManagerFactory.INSTANCE);
        }
        b.endpointIdentificationAlgorithm(mode == SslMode.VERIFY_FULL ? "HTTPS" : null);
        String keyFile = value(config, "server_tls_key_file");
        String certFile = value(config, "server_tls_cert_file");
        if (keyFile.isEmpty() != certFile.isEmpty()) {
            throw new ConfigException(file, "server_tls_key_file and server_tls_cert_file must be set together");
        }
        if (!keyFile.isEmpty()) {
            List<X509Certificate> chain = certificates(file, "server_tls_cert_file", certFile);
            b.keyManager(privateKey(file, "server_tls_key_file", keyFile, chain.get(0)), chain);
        }
        b.protocols(protocols(file, "server_tls_protocols", config.get("server_tls_protocols")));
        List<String> suites = suites(file, "server_tls", config, warnings);
        if (!suites.isEmpty()) {
            b.ciphers(suites, IdentityCipherSuiteFilter.INSTANCE);
        }
        return b;
    }

    /** Whether the server side is only its sslmode: no file, cipher or protocol of the user's to check at start. */
    private static boolean serverDefaults(Config config) {
        for (String key : SERVER_FILES_AND_SUITES) {
            if (config.isSet(key) && !value(config, key).isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /** Builds on a daemon thread of its own; a failure (only a broken JDK) fails the connections that need it. */
    private static CompletableFuture<SslContext> buildAside(Path file, SslContextBuilder b) {
        CompletableFuture<SslContext> out = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                out.complete(build(file, "server_tls", b));
            } catch (ConfigException | RuntimeException e) {
                out.completeExceptionally(e);
            }
        }, "pgsvc-tls-setup");
        t.setDaemon(true);
        t.start();
        return out;
    }

    /** {@code <side>_ciphers} and {@code <side>13_ciphers} together; empty means the JDK's defaults. */
    private static List<String> suites(Path file, String side, Config config, List<String> warnings)
            throws ConfigException {
        String tls12Key = side + "_ciphers";
        String tls13Key = side.replace("_tls", "_tls13") + "_ciphers";
        String tls12Value = value(config, tls12Key);
        String tls13Value = value(config, tls13Key);
        if (TlsNames.isDefault(tls12Value) && TlsNames.isDefault(tls13Value)) {
            return List.of();
        }
        Set<String> supported = supportedSuites();
        List<String> tls12 = TlsNames.ciphers(tls12Key, tls12Value, supported, warnings);
        List<String> tls13 = TlsNames.ciphers(tls13Key, tls13Value, supported, warnings);
        if (!TlsNames.isDefault(tls12Value) && tls12.isEmpty() && hasSuiteName(tls12Value)) {
            throw new ConfigException(file, "invalid " + tls12Key + ": no cipher the JDK supports in " + tls12Value);
        }
        if (!TlsNames.isDefault(tls13Value) && tls13.isEmpty()) {
            throw new ConfigException(file, "invalid " + tls13Key + ": no cipher the JDK supports in " + tls13Value);
        }
        if (tls12.isEmpty() && tls13.isEmpty()) {
            return List.of();
        }
        List<String> defaults = defaultSuites();
        Set<String> out = new LinkedHashSet<>();
        for (String s : tls13.isEmpty() ? defaults : tls13) {
            if (TlsNames.isTls13Suite(s)) {
                out.add(s);
            }
        }
        for (String s : tls12.isEmpty() ? defaults : tls12) {
            if (!TlsNames.isTls13Suite(s)) {
                out.add(s);
            }
        }
        return new ArrayList<>(out);
    }

    /** Whether a cipher string names suites (as opposed to OpenSSL keywords only, which fall back to defaults). */
    private static boolean hasSuiteName(String value) {
        for (String word : value.trim().split("[:,\\s]+")) {
            if (word.startsWith("TLS_") || word.startsWith("SSL_") || word.indexOf('-') > 0) {
                return true;
            }
        }
        return false;
    }

    private static List<String> protocols(Path file, String key, String value) throws ConfigException {
        try {
            return TlsNames.protocols(value);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(file, "invalid " + key + ": " + value);
        }
    }

    private static List<X509Certificate> certificates(Path file, String key, String path) throws ConfigException {
        try {
            return PemFiles.certificates(Path.of(path));
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException(file, "invalid " + key + ": " + path + ": " + reason(e), e);
        }
    }

    private static PrivateKey privateKey(Path file, String key, String path, X509Certificate cert)
            throws ConfigException {
        try {
            return PemFiles.privateKey(Path.of(path), cert.getPublicKey().getAlgorithm());
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException(file, "invalid " + key + ": " + path + ": " + reason(e), e);
        }
    }

    private static SslContext build(Path file, String side, SslContextBuilder b) throws ConfigException {
        try {
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new ConfigException(file, side + " setup failed: " + reason(e), e);
        }
    }

    private static String reason(Exception e) {
        String m = e.getMessage();
        return e instanceof java.nio.file.NoSuchFileException ? "no such file"
                : e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                : m == null ? e.getClass().getSimpleName() : m;
    }

    private static String value(Config config, String key) {
        String v = config.get(key);
        return v == null ? "" : v.trim();
    }

    private static Set<String> supportedSuites() {
        try {
            return new LinkedHashSet<>(Arrays.asList(
                    SSLContext.getDefault().getSupportedSSLParameters().getCipherSuites()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no default TLS context", e);
        }
    }

    private static List<String> defaultSuites() {
        try {
            return Arrays.asList(SSLContext.getDefault().getDefaultSSLParameters().getCipherSuites());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no default TLS context", e);
        }
    }

    /** client_tls_sslmode. */
    public SslMode clientMode() {
        return clientMode;
    }

    /** server_tls_sslmode. */
    public SslMode serverMode() {
        return serverMode;
    }

    /** Whether an SSLRequest from a TCP client is answered 'S' (Unix-socket clients never get TLS). */
    public boolean acceptsClients() {
        return clientContext != null;
    }

    /** A handler that accepts a client's TLS handshake; only when {@link #acceptsClients()}. */
    public SslHandler newClientHandler(ByteBufAllocator alloc) {
        return clientContext.newHandler(alloc);
    }

    /** Whether a connection to PostgreSQL at {@code host} starts with an SSLRequest: TCP only, never a socket dir. */
    public boolean connectsWithTls(String host) {
        return serverContext != null && host != null && !host.isEmpty() && !host.startsWith("/");
    }

    /**
     * The context for handshakes with PostgreSQL (a handler for a host is checked against it for verify-full);
     * only when {@link #connectsWithTls}. It may still be building just after start.
     */
    public CompletableFuture<SslContext> serverContext() {
        return serverContext;
    }

    /** Whether {@code other} connects to PostgreSQL differently, so that servers opened with this one must go. */
    public boolean serverSettingsDiffer(Tls other) {
        return !serverSettings.equals(other.serverSettings);
    }

    /** What the settings ask for and the JDK cannot do, for the log. */
    public List<String> warnings() {
        return warnings;
    }
}
