package pgsvc.pooler.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.StringLength;

/**
 * Property tests of {@link ScramServer} against hostile clients: whatever the client-first and client-final messages,
 * the only failure is an {@link AuthException} with PgBouncer's text, and only the proof of the password over this
 * exchange's own nonce authenticates: a flipped proof bit, a wrong password, an altered nonce (even with a proof
 * recomputed over it by someone who knows the password) or a proof replayed from another exchange never does.
 */
class ScramServerFuzzTest {

    private static final String PASSWORD = "fuzz-password";
    /** Few iterations: the properties run thousands of exchanges, and the count does not matter to the checks. */
    private static final int ITERATIONS = 8;
    private static final Secret SECRET = Secret.scramFromPassword(PASSWORD, new byte[] {7, 1, 2, 3, 4, 5, 6, 7},
            ITERATIONS);
    /** Stands for the exchange's real combined nonce in generated client-final messages. */
    private static final String NONCE = "\u0001NONCE\u0001";

    @Property(tries = 1000)
    void arbitraryMessagesOnlyEverFailWithAuthException(@ForAll("clientFirsts") String first,
            @ForAll("clientFinals") String finalTemplate) throws AuthException {
        ScramServer server = new ScramServer(SECRET);
        String serverFirst;
        try {
            serverFirst = server.handleClientFirst(first);
        } catch (AuthException e) {
            assertRefused(server, e);
            return;
        }
        String nonce = serverFirst.substring(2, serverFirst.indexOf(','));
        String fin = finalTemplate == null ? null : finalTemplate.replace(NONCE, nonce);
        AuthException e = assertThrows(AuthException.class, () -> server.handleClientFinal(fin),
                "a client-final without the password's proof authenticated");
        assertRefused(server, e);
    }

    private static void assertRefused(ScramServer server, AuthException e) {
        assertEquals(ScramServer.FAILED, e.getMessage());
        assertFalse(server.isAuthenticated());
        assertThrows(IllegalStateException.class, server::clientKey);
        // The exchange is over: nothing more is taken, not even a well-formed message.
        assertThrows(AuthException.class, () -> server.handleClientFinal("c=biws,r=x,p=" + "A".repeat(43) + "="));
    }

    @Property(tries = 200)
    void theRightProofAuthenticatesAndAFlippedBitDoesNot(@ForAll @IntRange(min = 0, max = 255) int bit)
            throws AuthException {
        Exchange genuine = Exchange.start(PASSWORD);
        ScramServer control = genuine.server;
        control.handleClientFinal(genuine.clientFinal);
        assertTrue(control.isAuthenticated());

        Exchange forged = Exchange.start(PASSWORD);
        String clientFinal = forged.clientFinal;
        int p = clientFinal.lastIndexOf(",p=") + 3;
        byte[] proof = Scram.decode(clientFinal.substring(p));
        proof[bit / 8] ^= (byte) (1 << (bit % 8));
        assertRefused(forged.server, forged.refuse(clientFinal.substring(0, p) + Scram.encode(proof)));
    }

    @Property(tries = 200)
    void aWrongPasswordNeverAuthenticates(@ForAll @StringLength(max = 20) String password) throws AuthException {
        if (password.equals(PASSWORD)) {
            return;
        }
        Exchange wrong = Exchange.start(password);
        assertRefused(wrong.server, wrong.refuse(wrong.clientFinal));
    }

    /**
     * The nonce is changed in the client-final, and the proof recomputed over the changed message by a client that
     * knows the password: only the nonce check can refuse it.
     */
    @Property(tries = 300)
    void anAlteredNonceNeverAuthenticates(@ForAll("nonceEdits") NonceEdit edit) throws AuthException {
        Exchange exchange = Exchange.start(PASSWORD);
        String altered = edit.apply(exchange.nonce);
        if (altered.equals(exchange.nonce)) {
            return;
        }
        String withoutProof = "c=biws,r=" + altered;
        assertRefused(exchange.server, exchange.refuse(withoutProof + ",p=" + proof(exchange, withoutProof)));
    }

    @Example
    void aProofReplayedInAnotherExchangeNeverAuthenticates() throws AuthException {
        Exchange first = Exchange.start(PASSWORD);
        first.server.handleClientFinal(first.clientFinal);
        ScramServer second = new ScramServer(SECRET);
        second.handleClientFirst(first.clientFirst);
        AuthException e = assertThrows(AuthException.class, () -> second.handleClientFinal(first.clientFinal));
        assertRefused(second, e);
    }

    @Example
    void aControlExchangeWithTheRecomputedProofAuthenticates() throws AuthException {
        // Shows that the proof computed by proof() is right, so the altered-nonce property refuses for the nonce.
        Exchange exchange = Exchange.start(PASSWORD);
        String withoutProof = "c=biws,r=" + exchange.nonce;
        exchange.server.handleClientFinal(withoutProof + ",p=" + proof(exchange, withoutProof));
        assertTrue(exchange.server.isAuthenticated());
    }

    /** The proof a client holding PASSWORD computes for this exchange and this client-final-without-proof. */
    private static String proof(Exchange exchange, String withoutProof) {
        byte[] salted = Scram.saltedPassword(Scram.preparePassword(PASSWORD), SECRET.salt(), ITERATIONS);
        byte[] clientKey = Scram.clientKey(salted);
        String authMessage = exchange.clientFirst.substring(3) + "," + exchange.serverFirst + "," + withoutProof;
        return Scram.encode(Scram.xor(clientKey, Scram.hmac(Scram.storedKey(clientKey), authMessage)));
    }

    /** A server and a real client with {@code password} that went through the first round trip. */
    private record Exchange(ScramServer server, String clientFirst, String serverFirst, String nonce,
                            String clientFinal) {
        static Exchange start(String password) throws AuthException {
            ScramServer server = new ScramServer(SECRET);
            ScramClient client = new ScramClient(password);
            String clientFirst = client.clientFirstMessage();
            String serverFirst = server.handleClientFirst(clientFirst);
            String clientFinal = client.handleServerFirst(serverFirst);
            String nonce = serverFirst.substring(2, serverFirst.indexOf(','));
            return new Exchange(server, clientFirst, serverFirst, nonce, clientFinal);
        }

        AuthException refuse(String clientFinal) {
            return assertThrows(AuthException.class, () -> server.handleClientFinal(clientFinal),
                    "forged client-final authenticated: " + clientFinal);
        }
    }

    /** A change to the nonce: replace, insert or delete the character at a position (taken modulo the length). */
    record NonceEdit(int kind, int position, char c) {
        String apply(String nonce) {
            int i = Math.floorMod(position, nonce.length());
            return switch (kind) {
                case 0 -> nonce.substring(0, i) + c + nonce.substring(i + 1);
                case 1 -> nonce.substring(0, i) + c + nonce.substring(i);
                case 2 -> nonce.substring(0, i) + nonce.substring(i + 1);
                case 3 -> nonce.substring(0, i);
                default -> nonce + c;
            };
        }
    }

    @Provide
    Arbitrary<NonceEdit> nonceEdits() {
        return Combinators.combine(Arbitraries.integers().between(0, 4), Arbitraries.integers(),
                Arbitraries.chars().range('!', '~')).as(NonceEdit::new);
    }

    @Provide
    Arbitrary<String> clientFirsts() {
        Arbitrary<String> header = Arbitraries.of("n,,", "y,,", "p=tls-server-end-point,,", "n,a=user,", "n,", "",
                "x,,", "n,,,");
        Arbitrary<String> bare = Combinators.combine(
                Arbitraries.of("n=,", "n=user,", "m=ext,n=,", "", "n=", "n=a=b,"),
                Arbitraries.of("r=", "r=", "x="),
                scramText(),
                Arbitraries.of("", "", ",e=ext", ",", ",=", ",p=1"))
                .as((user, r, nonce, tail) -> user + r + nonce + tail);
        return Arbitraries.oneOf(
                Combinators.combine(header, bare).as(String::concat),
                scramText(),
                Arbitraries.strings().ofMaxLength(40),
                Arbitraries.strings().withChars('n', 'y', ',', '=', 'r', 'a').ofMinLength(4097).ofMaxLength(4200))
                .injectNull(0.02);
    }

    @Provide
    Arbitrary<String> clientFinals() {
        Arbitrary<String> binding = Arbitraries.of("c=biws", "c=eSws", "c=", "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws",
                "x=biws", "");
        Arbitrary<String> nonce = Arbitraries.oneOf(Arbitraries.just(NONCE), Arbitraries.just(NONCE + "x"),
                scramText());
        Arbitrary<String> proof = Arbitraries.oneOf(
                Arbitraries.bytes().array(byte[].class).ofSize(32).map(Scram::encode),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(40).map(Scram::encode),
                scramText());
        Arbitrary<List<String>> extensions = Arbitraries.of("e=1", "x=y", "p=", "=", "", "m=a=b").list().ofMaxSize(2);
        return Arbitraries.oneOf(
                Combinators.combine(binding, nonce, extensions, Arbitraries.of("p=", "P=", "p"), proof,
                        Arbitraries.of("", "", ",", ",e=1", "\u0000")).as((c, r, ext, p, value, tail) -> {
                            StringBuilder s = new StringBuilder(c).append(",r=").append(r);
                            for (String e : ext) {
                                s.append(',').append(e);
                            }
                            return s.append(',').append(p).append(value).append(tail).toString();
                        }),
                scramText(),
                Arbitraries.strings().ofMaxLength(60),
                Arbitraries.strings().withChars('c', 'r', 'p', ',', '=').ofMinLength(4090).ofMaxLength(4200))
                .injectNull(0.02);
    }

    /** Short strings over SCRAM's syntax characters, base64 letters and a few others. */
    private static Arbitrary<String> scramText() {
        return Arbitraries.strings().withChars("nyprscimvea=,+/0A9\u00e9 \u0000\u007f").ofMaxLength(24);
    }
}
