package pgsvc.pooler.auth;

import java.security.MessageDigest;
import java.util.Objects;

/**
 * The pooler's side of SCRAM-SHA-256 when it logs in to PostgreSQL, either with a password or, for pass-through,
 * with the ClientKey and ServerKey recovered from a client's exchange with {@link ScramServer} (PostgreSQL then must
 * hold the very same secret: the keys only depend on salt and iteration count, which it does not let us choose).
 *
 * <p>One instance per server login, used from one thread. Any protocol violation throws {@link AuthException}; its
 * message is PostgreSQL's/PgBouncer's log wording, or the server's own text for an {@code e=} error.
 */
public final class ScramClient {
    /**
     * Largest iteration count accepted from a server. RFC 5802 §9 lets a client refuse counts that would keep it
     * busy: Hi() runs on the caller's thread, and a hostile server could otherwise demand minutes of CPU. One million
     * is 244 times PostgreSQL's default and costs well under a second; a larger scram_iterations is refused.
     */
    public static final int MAX_ITERATIONS = 1_000_000;

    private enum State {
        INITIAL, EXPECT_SERVER_FIRST, EXPECT_SERVER_FINAL, DONE, FAILED
    }

    private final byte[] password;
    private final byte[] passThroughClientKey;
    private final byte[] passThroughServerKey;
    private final String clientFirstBare;
    private final String clientNonce;

    private State state = State.INITIAL;
    private byte[] expectedServerSignature;

    /** Logs in with a password (PLAIN secret). */
    public ScramClient(String password) {
        this(Scram.preparePassword(Objects.requireNonNull(password, "password")), null, null, "",
                Scram.randomNonce());
    }

    /** Logs in with keys a client proved it holds (SCRAM pass-through). */
    public static ScramClient withKeys(byte[] clientKey, byte[] serverKey) {
        if (clientKey.length != Scram.KEY_LENGTH || serverKey.length != Scram.KEY_LENGTH) {
            throw new IllegalArgumentException("SCRAM-SHA-256 keys are " + Scram.KEY_LENGTH + " bytes");
        }
        return new ScramClient(null, clientKey.clone(), serverKey.clone(), "", Scram.randomNonce());
    }

    /**
     * With a fixed user name and nonce, for test vectors. PostgreSQL ignores {@code n=} and takes the user from the
     * StartupMessage, so the pooler always sends it empty, as libpq does.
     */
    ScramClient(byte[] password, byte[] clientKey, byte[] serverKey, String user, String nonce) {
        this.password = password;
        this.passThroughClientKey = clientKey;
        this.passThroughServerKey = serverKey;
        this.clientNonce = nonce;
        this.clientFirstBare = "n=" + user + ",r=" + nonce;
    }

    /** The client-first-message for SASLInitialResponse: gs2 header {@code n,,} (no channel binding), bare part. */
    public String clientFirstMessage() {
        if (state == State.INITIAL) {
            state = State.EXPECT_SERVER_FIRST;
        }
        return "n,," + clientFirstBare;
    }

    /** Takes the server-first-message (AuthenticationSASLContinue) and returns the client-final-message. */
    public String handleServerFirst(String serverFirst) throws AuthException {
        expect(State.EXPECT_SERVER_FIRST);
        try {
            String result = answerServerFirst(serverFirst);
            state = State.EXPECT_SERVER_FINAL;
            return result;
        } catch (AuthException e) {
            state = State.FAILED;
            throw e;
        }
    }

    /** Checks the server-final-message (AuthenticationSASLFinal): the server must prove it knows the secret too. */
    public void verifyServerFinal(String serverFinal) throws AuthException {
        expect(State.EXPECT_SERVER_FINAL);
        state = State.FAILED;
        Scram.requireBounded(serverFinal);
        Scram.Reader reader = new Scram.Reader(serverFinal);
        if (reader.peek() == 'e') {
            String error = reader.value('e');
            throw new AuthException(error, "error received from server in SCRAM exchange: " + error);
        }
        String signature = reader.value('v');
        // Extensions may follow v= (RFC 5802 server-final-message); none is known, so they are skipped.
        while (!reader.atEnd()) {
            reader.anyValue();
        }
        reader.expectEnd("server-final-message");
        byte[] decoded = Scram.decode(signature);
        if (decoded == null || decoded.length != Scram.KEY_LENGTH) {
            throw new AuthException("malformed SCRAM message (malformed server signature)");
        }
        if (!MessageDigest.isEqual(decoded, expectedServerSignature)) {
            throw new AuthException("incorrect server signature");
        }
        state = State.DONE;
    }

    private String answerServerFirst(String serverFirst) throws AuthException {
        Scram.requireBounded(serverFirst);
        Scram.Reader reader = new Scram.Reader(serverFirst);
        String nonce = reader.value('r');
        if (nonce.length() <= clientNonce.length() || !nonce.startsWith(clientNonce) || !Scram.isPrintable(nonce)) {
            throw new AuthException("invalid SCRAM response (nonce mismatch)");
        }
        byte[] salt = Scram.decode(reader.value('s'));
        if (salt == null || salt.length == 0) {
            throw new AuthException("malformed SCRAM message (invalid salt)");
        }
        int iterations = parseIterations(reader.value('i'));
        reader.expectEnd("server-first-message");

        byte[] clientKey;
        byte[] serverKey;
        if (password != null) {
            byte[] salted = Scram.saltedPassword(password, salt, iterations);
            clientKey = Scram.clientKey(salted);
            serverKey = Scram.serverKey(salted);
        } else {
            // Pass-through: the keys already encode the server's salt and count, assuming its secret is ours.
            clientKey = passThroughClientKey;
            serverKey = passThroughServerKey;
        }
        String withoutProof = "c=biws,r=" + nonce;
        String authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof;
        byte[] proof = Scram.xor(clientKey, Scram.hmac(Scram.storedKey(clientKey), authMessage));
        expectedServerSignature = Scram.hmac(serverKey, authMessage);
        return withoutProof + ",p=" + Scram.encode(proof);
    }

    private static int parseIterations(String text) throws AuthException {
        if (text.isEmpty() || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new AuthException("malformed SCRAM message (invalid iteration count)");
        }
        // Compared as a long from at most 10 digits, so that no count can overflow past the check.
        long iterations = text.length() > 10 ? Long.MAX_VALUE : Long.parseLong(text);
        if (iterations < 1) {
            throw new AuthException("malformed SCRAM message (invalid iteration count)");
        }
        if (iterations > MAX_ITERATIONS) {
            throw new AuthException("SCRAM iteration count " + text + " is above the limit of " + MAX_ITERATIONS);
        }
        return (int) iterations;
    }

    private void expect(State expected) throws AuthException {
        if (state != expected) {
            State actual = state;
            state = State.FAILED;
            throw new AuthException("unexpected SCRAM message in state " + actual);
        }
    }

    /** True once the server proved it knows the secret. */
    public boolean isComplete() {
        return state == State.DONE;
    }
}
