package pgsvc.pooler.auth;

import java.security.MessageDigest;
import java.util.Objects;

/**
 * The pooler's side of SCRAM-SHA-256 when it authenticates a client (RFC 5802, RFC 7677, as PgBouncer and PostgreSQL
 * implement it): no channel binding, gs2 flag {@code n} or {@code y} accepted, {@code p} refused, no authzid, the
 * {@code n=} user name ignored because the StartupMessage's user is the one being authenticated.
 *
 * <p>One instance per login attempt, used from one thread. Every failure throws {@link AuthException} with PgBouncer's
 * client-visible text {@code SASL authentication failed} and the precise reason in {@link AuthException#detail()};
 * after a failure the exchange is over. After success {@link #clientKey()} and {@link #serverKey()} allow logging in
 * to PostgreSQL with the same secret (SCRAM pass-through).
 */
public final class ScramServer {
    /** PgBouncer's text for every SCRAM failure, bad proof included (client.c). */
    public static final String FAILED = "SASL authentication failed";

    private enum State {
        EXPECT_CLIENT_FIRST, EXPECT_CLIENT_FINAL, DONE, FAILED
    }

    private final int iterations;
    private final byte[] salt;
    private final byte[] storedKey;
    private final byte[] serverKey;
    private final boolean adhoc;
    private final String serverNoncePart;

    private State state = State.EXPECT_CLIENT_FIRST;
    private char gs2Flag;
    private String clientFirstBare;
    private String nonce;
    private String serverFirst;
    private byte[] clientKey;

    /** A server for this stored secret; a PLAIN secret gets a fresh salt and PostgreSQL's default 4096 iterations. */
    public ScramServer(Secret stored) throws AuthException {
        this(stored, Scram.DEFAULT_ITERATIONS);
    }

    /**
     * A server for this stored secret; a PLAIN secret is turned into a SCRAM secret with a fresh random salt and
     * {@code plainIterations} (PgBouncer's scram_iterations). That costs one key derivation per login: a caller that
     * sees the same PLAIN secret often may build it once with {@link Secret#scramFromPassword} and pass that instead,
     * as PgBouncer caches it. An MD5 secret cannot answer SCRAM, and an empty password never authenticates.
     */
    public ScramServer(Secret stored, int plainIterations) throws AuthException {
        this(stored, plainIterations, Scram.randomNonce());
    }

    /** With a fixed server nonce part, for test vectors. */
    ScramServer(Secret stored, int plainIterations, String serverNoncePart) throws AuthException {
        Objects.requireNonNull(stored, "stored");
        this.serverNoncePart = serverNoncePart;
        Secret scram = switch (stored.kind()) {
            case SCRAM -> stored;
            case PLAIN -> adhocSecret(stored.text(), plainIterations);
            case MD5 -> throw new AuthException(FAILED, "SCRAM authentication failed: user has MD5 secret");
        };
        this.iterations = scram.iterations();
        this.salt = scram.salt();
        this.storedKey = scram.storedKey();
        this.serverKey = scram.serverKey();
        this.adhoc = scram != stored;
    }

    private static Secret adhocSecret(String password, int iterations) throws AuthException {
        if (password.isEmpty()) {
            throw new AuthException(FAILED, "SCRAM authentication failed: user has an empty password");
        }
        byte[] salt = new byte[Scram.DEFAULT_SALT_LENGTH];
        Scram.RANDOM.nextBytes(salt);
        return Secret.scramFromPassword(password, salt, iterations);
    }

    /** Takes the client-first-message (from SASLInitialResponse) and returns the server-first-message. */
    public String handleClientFirst(String clientFirstMessage) throws AuthException {
        expect(State.EXPECT_CLIENT_FIRST);
        try {
            readClientFirst(clientFirstMessage);
        } catch (AuthException e) {
            throw fail(e.getMessage());
        }
        serverFirst = "r=" + nonce + ",s=" + Scram.encode(salt) + ",i=" + iterations;
        state = State.EXPECT_CLIENT_FINAL;
        return serverFirst;
    }

    /** Takes the client-final-message (from SASLResponse), checks the proof and returns the server-final-message. */
    public String handleClientFinal(String clientFinalMessage) throws AuthException {
        expect(State.EXPECT_CLIENT_FINAL);
        String result;
        try {
            result = readClientFinal(clientFinalMessage);
        } catch (AuthException e) {
            throw fail(e.getMessage());
        }
        state = State.DONE;
        return result;
    }

    private void readClientFirst(String message) throws AuthException {
        Scram.requireBounded(message);
        char flag = message.isEmpty() ? 0 : message.charAt(0);
        if (flag == 'p') {
            throw new AuthException("client requires SCRAM channel binding, but it is not supported");
        }
        if (flag != 'n' && flag != 'y') {
            throw new AuthException("malformed SCRAM message (unexpected channel-binding flag)");
        }
        if (message.length() < 3 || message.charAt(1) != ',') {
            throw new AuthException("malformed SCRAM message (comma expected after channel-binding flag)");
        }
        if (message.charAt(2) == 'a') {
            throw new AuthException("client uses authorization identity, but it is not supported");
        }
        if (message.charAt(2) != ',') {
            throw new AuthException("malformed SCRAM message (unexpected attribute in client-first-message)");
        }
        String bare = message.substring(3);
        Scram.Reader reader = new Scram.Reader(bare);
        if (reader.peek() == 'm') {
            throw new AuthException("client requires an unsupported SCRAM extension");
        }
        reader.value('n');
        String clientNonce = reader.value('r');
        if (clientNonce.isEmpty() || !Scram.isPrintable(clientNonce)) {
            throw new AuthException("malformed SCRAM message (empty or non-printable nonce)");
        }
        // Optional extensions may follow; none is supported, so they are read and ignored.
        while (!reader.atEnd()) {
            reader.anyValue();
        }
        reader.expectEnd("client-first-message");
        gs2Flag = flag;
        clientFirstBare = bare;
        nonce = clientNonce + serverNoncePart;
    }

    private String readClientFinal(String message) throws AuthException {
        Scram.requireBounded(message);
        Scram.Reader reader = new Scram.Reader(message);
        String channelBinding = reader.value('c');
        // Without channel binding, c= is just the base64 of the gs2 header sent first: "n,," or "y,,".
        String expectedBinding = gs2Flag == 'n' ? "biws" : "eSws";
        if (!channelBinding.equals(expectedBinding)) {
            throw new AuthException("unexpected SCRAM channel-binding attribute in client-final-message");
        }
        String finalNonce = reader.value('r');
        int proofStart;
        String encodedProof;
        do {
            if (reader.atEnd()) {
                throw new AuthException("could not read proof");
            }
            proofStart = reader.position();
            encodedProof = reader.anyValue();
        } while (reader.lastAttribute() != 'p');
        reader.expectEnd("client-final-message");
        byte[] proof = Scram.decode(encodedProof);
        if (proof == null || proof.length != Scram.KEY_LENGTH) {
            throw new AuthException("malformed SCRAM message (malformed proof in client-final-message)");
        }
        if (!finalNonce.equals(nonce)) {
            throw new AuthException("invalid SCRAM response (nonce does not match)");
        }
        String withoutProof = message.substring(0, proofStart - 1);
        String authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof;
        byte[] candidateKey = Scram.xor(proof, Scram.hmac(storedKey, authMessage));
        if (!MessageDigest.isEqual(Scram.storedKey(candidateKey), storedKey)) {
            throw new AuthException("password authentication failed");
        }
        clientKey = candidateKey;
        return "v=" + Scram.encode(Scram.hmac(serverKey, authMessage));
    }

    private void expect(State expected) throws AuthException {
        if (state != expected) {
            throw fail("unexpected SCRAM message in state " + state);
        }
    }

    private AuthException fail(String detail) {
        state = State.FAILED;
        return new AuthException(FAILED, detail);
    }

    /** True once the client proved it knows the password. */
    public boolean isAuthenticated() {
        return state == State.DONE;
    }

    /**
     * True when the secret was built on the fly from a PLAIN password: its salt is random, so its keys are useless
     * for pass-through to PostgreSQL (PgBouncer keeps only keys from a stored SCRAM secret).
     */
    public boolean adhoc() {
        return adhoc;
    }

    /** The client's ClientKey, recovered from its proof; only after success. */
    public byte[] clientKey() {
        requireAuthenticated();
        return clientKey.clone();
    }

    /** The ServerKey of the secret the client authenticated against; only after success. */
    public byte[] serverKey() {
        requireAuthenticated();
        return serverKey.clone();
    }

    private void requireAuthenticated() {
        if (state != State.DONE) {
            throw new IllegalStateException("SCRAM exchange not completed: " + state);
        }
    }
}
