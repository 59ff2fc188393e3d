package pgsvc.pooler;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.function.Consumer;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketChannel;
import io.netty.handler.ssl.SslHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.auth.AuthException;
import pgsvc.pooler.auth.ConnectionKind;
import pgsvc.pooler.auth.Hba;
import pgsvc.pooler.auth.Md5;
import pgsvc.pooler.auth.OsUsers;
import pgsvc.pooler.auth.ScramServer;
import pgsvc.pooler.auth.Secret;
import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.pooler.tls.TlsInfo;
import pgsvc.protocol.ErrorFields;
import pgsvc.protocol.Messages;

/**
 * Client authentication for one login, by auth_type. An unknown user goes through the same exchange against a
 * random secret ("mock auth"), so the answer never tells whether the user or the password was wrong.
 * <p>With auth_type=hba the first matching rule of the HBA file is looked up once, at construction, and its method
 * is used as PgBouncer's finish_set_pool does (src/client.c): {@code trust} and {@code peer} still need a user known
 * to the auth file, {@code md5} turns into SCRAM for a user with a SCRAM secret, {@code password} is auth_type
 * plain, {@code reject} is FATAL {@code login rejected}, and no matching rule is FATAL
 * {@code no authentication method is found}.
 * <p>A user that auth_file does not list is looked up with auth_query first when an auth_user applies
 * ({@link #lookUp}); a secret found there serves the login exactly as one from auth_file would, and once the client
 * has proved it, it is also the password pgsvc logs in to PostgreSQL with for that user.
 */
final class Authenticator {
    private static final Logger log = LoggerFactory.getLogger(Authenticator.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** What to send next: a reply message, success, or a FATAL error text. */
    record Step(ByteBuf reply, boolean done, String error) {
        static Step fail(String error) {
            return new Step(null, false, error);
        }
    }

    private enum Expect { NOTHING, CLEARTEXT, MD5, SASL_INITIAL, SASL_RESPONSE }

    private final Pooler pooler;
    private final String user;
    private final String database;
    private final boolean unix;
    private final int peerUid;
    private Secret secret;
    private boolean known;
    /** Whether the secret came from auth_query rather than auth_file. */
    private boolean lookedUp;
    /** auth_type, or for auth_type=hba the matching rule's method; null when no rule matches. */
    private final String method;
    private final Hba.Rule rule;
    /** The certificate the client presented in its TLS handshake (checked against client_tls_ca_file), or null. */
    private final X509Certificate clientCert;
    private final boolean tls;
    private Expect expect = Expect.NOTHING;
    private byte[] salt;
    private ScramServer scram;

    /** A login on this client channel: TCP (address from the channel), Unix socket (peer uid from SO_PEERCRED). */
    Authenticator(Pooler pooler, String user, String database, Channel channel) {
        this(pooler, user, database, channel instanceof DomainSocketChannel ? null : inetAddress(channel),
                channel instanceof DomainSocketChannel, channel.pipeline().get(SslHandler.class) != null,
                channel instanceof EpollDomainSocketChannel unix ? peerUid(unix) : -1,
                TlsInfo.peerCertificate(channel));
    }

    /**
     * @param address the client's IP address; null for a Unix-socket client, or for a TCP client whose address is
     *                unknown (no HBA rule matches it then)
     * @param unix whether the client came over the Unix socket
     * @param tls whether the client connection is encrypted (hostssl, hostnossl, cert)
     * @param peerUid the OS uid of a Unix-socket client's process, -1 when unknown
     * @param clientCert the certificate a TLS client presented (already verified in the handshake), or null
     */
    Authenticator(Pooler pooler, String user, String database, InetAddress address, boolean unix, boolean tls,
                  int peerUid, X509Certificate clientCert) {
        this.pooler = pooler;
        this.user = user;
        this.database = database;
        this.unix = unix;
        this.peerUid = peerUid;
        this.tls = tls;
        this.clientCert = clientCert;
        String stored = pooler.authFile() == null ? null : pooler.authFile().secret(user);
        this.known = stored != null;
        this.secret = stored != null ? Secret.parse(stored) : Secret.parse(randomPassword());
        String authType = pooler.config().authType();
        if (authType.equals("hba")) {
            Hba hba = pooler.hba();
            rule = hba == null || (!unix && address == null) ? null
                    : hba.match(ConnectionKind.NORMAL, database, user, unix ? null : address, tls);
            method = rule == null ? null : rule.method() == Hba.Method.PASSWORD ? "plain" : rule.method().keyword();
            if (rule != null) {
                log.debug("db={} user={}: {} line {} matched", database, user, hba.file(), rule.line());
            }
        } else {
            rule = null;
            method = authType;
        }
    }

    private static InetAddress inetAddress(Channel channel) {
        return channel.remoteAddress() instanceof InetSocketAddress in ? in.getAddress() : null;
    }

    /** SO_PEERCRED: a getsockopt on the connected socket, which does not block. */
    /**
     * PgBouncer's admin_pre_login: the OS user running the pooler, over the Unix socket, may open the console as
     * user {@code pgbouncer} with no password, as an admin.
     */
    static boolean ownUserOnUnixSocket(Channel channel) {
        return channel instanceof EpollDomainSocketChannel unix && OWN_UID >= 0 && peerUid(unix) == OWN_UID;
    }

    /** This process's uid, from /proc (-1 if it cannot be read). */
    private static final int OWN_UID = ownUid();

    private static int ownUid() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.substring(4).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux: no peer credentials either, so the shortcut never applies.
        }
        return -1;
    }

    private static int peerUid(EpollDomainSocketChannel channel) {
        try {
            return channel.peerCredentials().uid();
        } catch (IOException e) {
            return -1;
        }
    }

    private static String randomPassword() {
        byte[] b = new byte[24];
        RANDOM.nextBytes(b);
        return java.util.Base64.getEncoder().encodeToString(b);
    }

    /**
     * Looks the user up with auth_query when auth_file does not list it, an auth_user applies and the method needs
     * to know the user; then runs {@code then} on {@code loop} with null to go on with {@link #begin}, or with the
     * error that ends the login. Without a lookup {@code then} runs at once. No row, or a NULL password, leaves the
     * user unknown: the exchange goes on against a random secret and fails as a wrong password does.
     *
     * @param db the client's database entry; null for the console (and for an unknown database, never looked up)
     */
    void lookUp(DatabaseEntry db, EventLoop loop, Consumer<ErrorFields> then) {
        boolean console = database.equals(DatabaseEntry.CONSOLE_DATABASE);
        if (known || method == null || (db == null && !console)
                || method.equals("any") || method.equals("reject")) {
            then.accept(null);
            return;
        }
        AuthQuery.Plan plan = AuthQuery.plan(pooler.config(), pooler.authFile(), db);
        if (plan == null) {
            then.accept(null);
            return;
        }
        if (plan.refusal() != null) {
            log.error("db={} user={}: {}", database, user, plan.refusal());
            then.accept(AuthQuery.CONFIG_ERROR);
            return;
        }
        pooler.authQuery().lookup(plan, user, loop, result -> loop.execute(() -> {
            if (result.secret() != null) {
                secret = Secret.parse(result.secret());
                known = true;
                lookedUp = true;
            }
            then.accept(result.error());
        }));
    }

    /** A successful login; a secret from auth_query becomes the one pgsvc logs in to PostgreSQL with. */
    private Step success(ByteBuf reply) {
        if (lookedUp) {
            pooler.rememberLookedUpSecret(database, user, secret.text());
        }
        return new Step(reply, true, null);
    }

    /** The first step: an authentication request, or immediate success or failure. */
    Step begin(ByteBufAllocator alloc) {
        if (method == null) {
            return Step.fail("no authentication method is found");
        }
        switch (method) {
            case "any" -> {
                return new Step(null, true, null);
            }
            case "trust" -> {
                return known ? success(null) : Step.fail("\"trust\" authentication failed");
            }
            case "plain" -> {
                expect = Expect.CLEARTEXT;
                return new Step(Messages.authenticationCleartextPassword(alloc), false, null);
            }
            case "md5" -> {
                if (secret.kind() == Secret.Kind.SCRAM) {
                    return beginScram(alloc);
                }
                expect = Expect.MD5;
                salt = Md5.newSalt();
                return new Step(Messages.authenticationMD5Password(alloc, salt), false, null);
            }
            case "scram-sha-256" -> {
                return beginScram(alloc);
            }
            case "reject" -> {
                return Step.fail("login rejected");
            }
            case "cert" -> {
                return cert() ? success(null) : Step.fail("certificate authentication failed");
            }
            case "peer" -> {
                return peer() ? success(null) : Step.fail("unix socket login rejected");
            }
            default -> {
                return Step.fail("auth_type " + method + " is not supported yet");
            }
        }
    }

    /**
     * PgBouncer's login_as_unix_peer: a Unix-socket client whose user is known (auth_file), and whose OS user is the
     * requested user or, with {@code map=}, maps to it.
     */
    private boolean peer() {
        if (!unix || peerUid < 0 || !known || rule == null) {
            return false;
        }
        String osUser = pooler.hba().osUserName(peerUid);
        if (osUser == null) {
            log.info("db={} user={}: peer uid {} has no name in {}", database, user, peerUid, OsUsers.PASSWD);
            return false;
        }
        boolean ok = rule.map() != null ? rule.map().allows(osUser, user) : osUser.equals(user);
        if (!ok) {
            log.info("db={} user={}: peer OS user {} is not allowed{}", database, user, osUser,
                    rule.map() != null ? " by ident map " + rule.map().name() : "");
        }
        return ok;
    }

    /**
     * PgBouncer's login_via_cert: a TLS client whose certificate (already verified against client_tls_ca_file in
     * the handshake) is for the requested user, a user the auth file or auth_query knows. The certificate's DNS
     * subject alternative names, or without any its common name, must include the user name exactly.
     */
    private boolean cert() {
        if (!tls) {
            log.info("db={} user={}: TLS connection required", database, user);
            return false;
        }
        if (clientCert == null) {
            log.info("db={} user={}: TLS client certificate required", database, user);
            return false;
        }
        if (!known) {
            return false;
        }
        List<String> names = TlsInfo.names(clientCert);
        if (!names.contains(user)) {
            log.info("db={} user={}: TLS certificate name mismatch: {}", database, user, names);
            return false;
        }
        return true;
    }

    private Step beginScram(ByteBufAllocator alloc) {
        try {
            scram = new ScramServer(secret.kind() == Secret.Kind.MD5 ? Secret.parse(randomPassword()) : secret);
        } catch (AuthException e) {
            return Step.fail(e.getMessage());
        }
        expect = Expect.SASL_INITIAL;
        return new Step(Messages.authenticationSASL(alloc, List.of("SCRAM-SHA-256")), false, null);
    }

    /** Handles one PasswordMessage / SASLInitialResponse / SASLResponse frame ('p'). */
    Step next(ByteBufAllocator alloc, ByteBuf frame) {
        int payload = 5;
        int end = frame.readerIndex() + 1 + frame.getInt(frame.readerIndex() + 1);
        int start = frame.readerIndex() + payload;
        try {
            switch (expect) {
                case CLEARTEXT -> {
                    String password = cstring(frame, start, end);
                    if (password.isEmpty()) {
                        return Step.fail("empty password returned by client");
                    }
                    boolean ok = known && Md5.verifyCleartext(secret, user, password);
                    return ok ? success(null) : Step.fail("password authentication failed");
                }
                case MD5 -> {
                    String response = cstring(frame, start, end);
                    if (response.isEmpty()) {
                        return Step.fail("empty password returned by client");
                    }
                    boolean ok = known && secret.kind() != Secret.Kind.SCRAM
                            && Md5.verify(secret, user, salt, response);
                    return ok ? success(null) : Step.fail("password authentication failed");
                }
                case SASL_INITIAL -> {
                    int nul = frame.indexOf(start, end, (byte) 0);
                    if (nul < 0 || nul + 5 > end) {
                        return Step.fail("SASL authentication failed");
                    }
                    String mechanism = frame.toString(start, nul - start, StandardCharsets.UTF_8);
                    if (!mechanism.equals("SCRAM-SHA-256")) {
                        return Step.fail("client selected an invalid SASL authentication mechanism");
                    }
                    int len = frame.getInt(nul + 1);
                    if (len < 0 || nul + 5 + len != end) {
                        return Step.fail("SASL authentication failed");
                    }
                    String clientFirst = frame.toString(nul + 5, len, StandardCharsets.UTF_8);
                    String serverFirst = scram.handleClientFirst(clientFirst);
                    expect = Expect.SASL_RESPONSE;
                    return new Step(Messages.authenticationSASLContinue(alloc,
                            serverFirst.getBytes(StandardCharsets.UTF_8)), false, null);
                }
                case SASL_RESPONSE -> {
                    String clientFinal = frame.toString(start, end - start, StandardCharsets.UTF_8);
                    String serverFinal = scram.handleClientFinal(clientFinal);
                    if (!known) {
                        return Step.fail("SASL authentication failed");
                    }
                    expect = Expect.NOTHING;
                    if (secret.kind() == Secret.Kind.SCRAM) {
                        pooler.rememberScramKeys(user, new Pooler.ScramKeys(secret.text(), scram.clientKey(),
                                scram.serverKey()));
                    }
                    return success(Messages.authenticationSASLFinal(alloc,
                            serverFinal.getBytes(StandardCharsets.UTF_8)));
                }
                default -> {
                    return Step.fail("unexpected password message");
                }
            }
        } catch (AuthException e) {
            return Step.fail(e.getMessage());
        }
    }

    private static String cstring(ByteBuf frame, int start, int end) {
        int nul = frame.indexOf(start, end, (byte) 0);
        return frame.toString(start, (nul < 0 ? end : nul) - start, StandardCharsets.UTF_8);
    }
}
