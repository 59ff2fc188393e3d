package pgsvc.pooler;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.List;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import pgsvc.pooler.auth.AuthException;
import pgsvc.pooler.auth.Md5;
import pgsvc.pooler.auth.ScramServer;
import pgsvc.pooler.auth.Secret;
import pgsvc.protocol.Messages;

/**
 * Client authentication for one login, by auth_type. An unknown user goes through the same exchange against a
 * random secret ("mock auth"), so the answer never tells whether the user or the password was wrong.
 */
final class Authenticator {
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
    private final String authType;
    private final Secret secret;
    private final boolean known;
    private Expect expect = Expect.NOTHING;
    private byte[] salt;
    private ScramServer scram;

    Authenticator(Pooler pooler, String user) {
        this.pooler = pooler;
        this.user = user;
        this.authType = pooler.config().authType();
        String stored = pooler.authFile() == null ? null : pooler.authFile().secret(user);
        this.known = stored != null;
        this.secret = stored != null ? Secret.parse(stored) : Secret.parse(randomPassword());
    }

    private static String randomPassword() {
        byte[] b = new byte[24];
        RANDOM.nextBytes(b);
        return java.util.Base64.getEncoder().encodeToString(b);
    }

    /** The first step: an authentication request, or immediate success or failure. */
    Step begin(ByteBufAllocator alloc) {
        switch (authType) {
            case "any" -> {
                return new Step(null, true, null);
            }
            case "trust" -> {
                return known ? new Step(null, true, null) : Step.fail("\"trust\" authentication failed");
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
            default -> {
                return Step.fail("auth_type " + authType + " is not supported yet");
            }
        }
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
                    return ok ? new Step(null, true, null) : Step.fail("password authentication failed");
                }
                case MD5 -> {
                    String response = cstring(frame, start, end);
                    if (response.isEmpty()) {
                        return Step.fail("empty password returned by client");
                    }
                    boolean ok = known && secret.kind() != Secret.Kind.SCRAM
                            && Md5.verify(secret, user, salt, response);
                    return ok ? new Step(null, true, null) : Step.fail("password authentication failed");
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
                    return new Step(Messages.authenticationSASLFinal(alloc,
                            serverFinal.getBytes(StandardCharsets.UTF_8)), true, null);
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
