package pgsvc.pooler;

import java.nio.charset.StandardCharsets;
import java.util.function.BiFunction;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import pgsvc.pooler.auth.AuthException;
import pgsvc.pooler.auth.Md5;
import pgsvc.pooler.auth.ScramClient;
import pgsvc.pooler.auth.Secret;
import pgsvc.protocol.Messages;

/**
 * Answers PostgreSQL's authentication requests when pgsvc logs in as a client: cleartext, md5 and SCRAM-SHA-256,
 * from a plaintext password, an md5 secret, or (SCRAM only) the keys a client proved against a SCRAM secret.
 * One instance per login; used by pooled server connections and the router's health checks alike.
 */
public final class ServerAuth {
    private final String user;
    private final String password;
    private final BiFunction<String, String, Pooler.ScramKeys> scramKeys;
    private ScramClient scram;

    /**
     * @param password  plaintext, md5 or SCRAM secret; null if none is known
     * @param scramKeys looks up keys proved by a client, by (user, secret); may return null
     */
    public ServerAuth(String user, String password, BiFunction<String, String, Pooler.ScramKeys> scramKeys) {
        this.user = user;
        this.password = password;
        this.scramKeys = scramKeys;
    }

    /** The reply to one AuthenticationXXX frame ('R'), or null when none is due. */
    public ByteBuf answer(ByteBufAllocator alloc, ByteBuf frame) throws AuthException {
        int base = frame.readerIndex();
        int code = frame.getInt(base + 5);
        int end = base + 1 + frame.getInt(base + 1);
        switch (code) {
            case 0 -> {
                return null;
            }
            case 3 -> {
                if (secret().kind() != Secret.Kind.PLAIN) {
                    throw new AuthException("server login failed: wrong password type");
                }
                return Messages.passwordMessage(alloc, password);
            }
            case 5 -> {
                byte[] salt = new byte[4];
                frame.getBytes(base + 9, salt);
                Secret secret = secret();
                String md5 = switch (secret.kind()) {
                    case PLAIN -> Md5.encode(password, user);
                    case MD5 -> password;
                    case SCRAM -> throw new AuthException("server login failed: wrong password type");
                };
                return Messages.passwordMessage(alloc, Md5.response(md5, salt));
            }
            case 10 -> {
                scram = scramClient(secret());
                byte[] first = scram.clientFirstMessage().getBytes(StandardCharsets.UTF_8);
                return Messages.saslInitialResponse(alloc, "SCRAM-SHA-256", first);
            }
            case 11 -> {
                requireScram();
                String serverFirst = frame.toString(base + 9, end - base - 9, StandardCharsets.UTF_8);
                return Messages.saslResponse(alloc, scram.handleServerFirst(serverFirst).getBytes(StandardCharsets.UTF_8));
            }
            case 12 -> {
                requireScram();
                scram.verifyServerFinal(frame.toString(base + 9, end - base - 9, StandardCharsets.UTF_8));
                return null;
            }
            default -> throw new AuthException("unknown/unsupported auth method: " + code);
        }
    }

    private Secret secret() throws AuthException {
        if (password == null) {
            throw new AuthException("server login failed: no password known for user " + user);
        }
        return Secret.parse(password);
    }

    private void requireScram() throws AuthException {
        if (scram == null) {
            throw new AuthException("server sent a SASL message before SASL authentication started");
        }
    }

    /**
     * With a plaintext password pgsvc logs in as any client would. With a SCRAM secret it can only pass through the
     * keys a client proved when it logged in to pgsvc against that same secret, as PgBouncer does.
     */
    private ScramClient scramClient(Secret secret) throws AuthException {
        switch (secret.kind()) {
            case PLAIN -> {
                return new ScramClient(secret.text());
            }
            case SCRAM -> {
                Pooler.ScramKeys keys = scramKeys == null ? null : scramKeys.apply(user, secret.text());
                if (keys != null) {
                    return ScramClient.withKeys(keys.clientKey(), keys.serverKey());
                }
                throw new AuthException("cannot do SCRAM authentication: password is SCRAM secret but client "
                        + "authentication did not provide SCRAM keys");
            }
            default -> throw new AuthException("server login failed: wrong password type");
        }
    }
}
