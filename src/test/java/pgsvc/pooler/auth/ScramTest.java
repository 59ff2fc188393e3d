package pgsvc.pooler.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ScramTest {
    // RFC 7677 section 3, the SCRAM-SHA-256 example exchange.
    private static final String RFC_PASSWORD = "pencil";
    private static final String RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO";
    private static final String RFC_SERVER_NONCE_PART = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    private static final String RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ==";
    private static final String RFC_CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    private static final String RFC_SERVER_FIRST =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    private static final String RFC_CLIENT_FINAL = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    private static final String RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    private static Secret rfcSecret() {
        return Secret.scramFromPassword(RFC_PASSWORD, Base64.getDecoder().decode(RFC_SALT), 4096);
    }

    private static ScramClient rfcClient() {
        return new ScramClient(RFC_PASSWORD.getBytes(StandardCharsets.UTF_8), null, null, "user", RFC_CLIENT_NONCE);
    }

    private static ScramServer rfcServer() throws AuthException {
        return new ScramServer(rfcSecret(), 4096, RFC_SERVER_NONCE_PART);
    }

    @Test
    void clientReproducesRfc7677Example() throws AuthException {
        ScramClient client = rfcClient();
        assertEquals(RFC_CLIENT_FIRST, client.clientFirstMessage());
        assertEquals(RFC_CLIENT_FINAL, client.handleServerFirst(RFC_SERVER_FIRST));
        assertFalse(client.isComplete());
        client.verifyServerFinal(RFC_SERVER_FINAL);
        assertTrue(client.isComplete());
    }

    @Test
    void serverReproducesRfc7677Example() throws AuthException {
        ScramServer server = rfcServer();
        assertEquals(RFC_SERVER_FIRST, server.handleClientFirst(RFC_CLIENT_FIRST));
        assertEquals(RFC_SERVER_FINAL, server.handleClientFinal(RFC_CLIENT_FINAL));
        assertTrue(server.isAuthenticated());
        byte[] salted = Scram.saltedPassword(Scram.ascii(RFC_PASSWORD), Base64.getDecoder().decode(RFC_SALT), 4096);
        assertArrayEquals(Scram.clientKey(salted), server.clientKey());
        assertArrayEquals(rfcSecret().serverKey(), server.serverKey());
    }

    @Test
    void clientRejectsWrongServerSignature() throws AuthException {
        ScramClient client = rfcClient();
        client.clientFirstMessage();
        client.handleServerFirst(RFC_SERVER_FIRST);
        AuthException e = assertThrows(AuthException.class,
                () -> client.verifyServerFinal("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
        assertEquals("incorrect server signature", e.getMessage());
        assertFalse(client.isComplete());
    }

    @Test
    void hiEqualsJdkPbkdf2() throws Exception {
        byte[] salt = Base64.getDecoder().decode(RFC_SALT);
        PBEKeySpec spec = new PBEKeySpec(RFC_PASSWORD.toCharArray(), salt, 4096, 256);
        byte[] expected = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        assertArrayEquals(expected, Scram.saltedPassword(Scram.ascii(RFC_PASSWORD), salt, 4096));
    }

    @Test
    void roundTripWithRandomPasswordAndPassThrough() throws AuthException {
        String password = randomPassword(new Random());
        byte[] salt = new byte[16];
        Scram.RANDOM.nextBytes(salt);
        Secret secret = Secret.scramFromPassword(password, salt, 4096);

        ScramClient client = new ScramClient(password);
        ScramServer server = new ScramServer(secret);
        String clientFirst = client.clientFirstMessage();
        assertTrue(clientFirst.startsWith("n,,n=,r="), clientFirst);
        String serverFirst = server.handleClientFirst(clientFirst);
        String clientNonce = clientFirst.substring("n,,n=,r=".length());
        String serverNonce = serverFirst.substring(2, serverFirst.indexOf(','));
        assertTrue(serverNonce.startsWith(clientNonce));
        assertEquals(18, Base64.getDecoder().decode(serverNonce.substring(clientNonce.length())).length);
        client.verifyServerFinal(server.handleClientFinal(client.handleServerFirst(serverFirst)));
        assertTrue(server.isAuthenticated());
        assertFalse(server.adhoc());

        // The recovered keys log in to a server holding the same secret, as PostgreSQL does in pass-through.
        ScramClient passThrough = ScramClient.withKeys(server.clientKey(), server.serverKey());
        ScramServer postgres = new ScramServer(secret);
        String first = postgres.handleClientFirst(passThrough.clientFirstMessage());
        passThrough.verifyServerFinal(postgres.handleClientFinal(passThrough.handleServerFirst(first)));
        assertTrue(postgres.isAuthenticated());
        assertTrue(passThrough.isComplete());
    }

    @Test
    void plainSecretIsServedWithAdhocScramSecret() throws AuthException {
        ScramServer server = new ScramServer(Secret.parse("plain password"));
        ScramClient client = new ScramClient("plain password");
        String serverFirst = server.handleClientFirst(client.clientFirstMessage());
        assertTrue(serverFirst.endsWith(",i=4096"), serverFirst);
        client.verifyServerFinal(server.handleClientFinal(client.handleServerFirst(serverFirst)));
        assertTrue(server.adhoc());
        String otherSalt = new ScramServer(Secret.parse("plain password")).handleClientFirst("n,,n=,r=abc");
        assertNotEquals(serverFirst.split(",")[1], otherSalt.split(",")[1], "each adhoc secret has a fresh salt");
    }

    @Test
    void postgresGeneratedSecretAcceptsItsPassword() throws AuthException {
        Secret secret = Secret.parse(SecretTest.PG15_SECRET);
        ScramServer server = new ScramServer(secret);
        ScramClient client = new ScramClient("secret");
        String serverFirst = server.handleClientFirst(client.clientFirstMessage());
        assertTrue(serverFirst.endsWith(",s=RVdP2rle7SWryDrwIM4BXg==,i=4096"), serverFirst);
        client.verifyServerFinal(server.handleClientFinal(client.handleServerFirst(serverFirst)));
        assertTrue(server.isAuthenticated());
    }

    @Test
    void wrongPasswordFailsWithPgbouncerText() throws AuthException {
        ScramServer server = new ScramServer(Secret.parse(SecretTest.PG15_SECRET));
        ScramClient client = new ScramClient("Secret");
        String clientFinal = client.handleServerFirst(server.handleClientFirst(client.clientFirstMessage()));
        AuthException e = assertThrows(AuthException.class, () -> server.handleClientFinal(clientFinal));
        assertEquals("SASL authentication failed", e.getMessage());
        assertEquals("password authentication failed", e.detail());
        assertFalse(server.isAuthenticated());
        assertThrows(IllegalStateException.class, server::clientKey);
        assertThrows(AuthException.class, () -> server.handleClientFinal(clientFinal), "exchange is over");
    }

    @Test
    void tamperedNonceFails() throws AuthException {
        ScramServer server = rfcServer();
        server.handleClientFirst(RFC_CLIENT_FIRST);
        String tampered = RFC_CLIENT_FINAL.replace("hNlF$k0", "hNlF$k1");
        AuthException e = assertThrows(AuthException.class, () -> server.handleClientFinal(tampered));
        assertEquals(ScramServer.FAILED, e.getMessage());
        assertTrue(e.detail().contains("nonce"), e.detail());
    }

    @Test
    void clientFinalFromAnotherExchangeFails() throws AuthException {
        Secret secret = Secret.scramFromPassword("pw", new byte[] {1, 2, 3, 4}, 4096);
        ScramClient client = new ScramClient("pw");
        ScramServer first = new ScramServer(secret);
        String clientFirst = client.clientFirstMessage();
        String recorded = client.handleServerFirst(first.handleClientFirst(clientFirst));
        first.handleClientFinal(recorded);

        // Verbatim replay: the new exchange has a new server nonce.
        ScramServer second = new ScramServer(secret);
        String secondFirst = second.handleClientFirst(clientFirst);
        AuthException replay = assertThrows(AuthException.class, () -> second.handleClientFinal(recorded));
        assertTrue(replay.detail().contains("nonce"), replay.detail());

        // Replay with the nonce rewritten: the proof was bound to the other AuthMessage.
        ScramServer third = new ScramServer(secret);
        String thirdFirst = third.handleClientFirst(clientFirst);
        String oldNonce = recorded.substring("c=biws,r=".length(), recorded.indexOf(",p="));
        String newNonce = thirdFirst.substring(2, thirdFirst.indexOf(','));
        AuthException forged = assertThrows(AuthException.class,
                () -> third.handleClientFinal(recorded.replace(oldNonce, newNonce)));
        assertEquals("password authentication failed", forged.detail());
        assertNotEquals(secondFirst, thirdFirst);
    }

    @Test
    void channelBindingRequiredIsRefused() throws AuthException {
        ScramServer server = new ScramServer(rfcSecret());
        AuthException e = assertThrows(AuthException.class,
                () -> server.handleClientFirst("p=tls-server-end-point,,n=,r=abcdef"));
        assertEquals(ScramServer.FAILED, e.getMessage());
        assertTrue(e.detail().contains("channel binding"), e.detail());
    }

    @Test
    void flagYIsAcceptedWithMatchingChannelBindingAttribute() throws AuthException {
        String clientFirst = "y,,n=,r=" + RFC_CLIENT_NONCE;
        ScramServer server = new ScramServer(rfcSecret(), 4096, RFC_SERVER_NONCE_PART);
        String serverFirst = server.handleClientFirst(clientFirst);
        String withoutProof = "c=eSws,r=" + RFC_CLIENT_NONCE + RFC_SERVER_NONCE_PART;
        byte[] salted = Scram.saltedPassword(Scram.ascii(RFC_PASSWORD), Base64.getDecoder().decode(RFC_SALT), 4096);
        byte[] clientKey = Scram.clientKey(salted);
        String authMessage = "n=,r=" + RFC_CLIENT_NONCE + "," + serverFirst + "," + withoutProof;
        byte[] proof = Scram.xor(clientKey, Scram.hmac(Scram.storedKey(clientKey), authMessage));
        String serverFinal = server.handleClientFinal(withoutProof + ",p=" + Scram.encode(proof));
        assertEquals("v=" + Scram.encode(Scram.hmac(Scram.serverKey(salted), authMessage)), serverFinal);

        ScramServer mismatch = new ScramServer(rfcSecret(), 4096, RFC_SERVER_NONCE_PART);
        mismatch.handleClientFirst(clientFirst);
        assertThrows(AuthException.class, () -> mismatch.handleClientFinal(RFC_CLIENT_FINAL), "c=biws after y");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "n,a=someone,n=,r=abc",     // authorization identity
        "n,,m=ext,n=,r=abc",        // mandatory extension
        "n,,n=,r=",                 // empty nonce
        "n,,n=,r=ab\u00e9",         // non-printable nonce
        "n,,r=abc",                 // no user name attribute
        "n,,n=,r=abc,",             // trailing comma
        "n,,n=,r=abc,1=x",          // extension with a bad name
        "x,,n=,r=abc",              // unknown gs2 flag
        "n",
        "",
    })
    void malformedClientFirstFails(String message) throws AuthException {
        ScramServer server = new ScramServer(rfcSecret());
        AuthException e = assertThrows(AuthException.class, () -> server.handleClientFirst(message));
        assertEquals(ScramServer.FAILED, e.getMessage());
    }

    @Test
    void clientFirstExtensionsAreIgnored() throws AuthException {
        ScramServer server = new ScramServer(rfcSecret(), 4096, "xyz");
        assertTrue(server.handleClientFirst("n,,n=someone,r=abc,x=1,y=").startsWith("r=abcxyz,"));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",                       // no proof
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9", // short proof
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",                             // after proof
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",                                 // no c=
        "c=cD10bHMtdW5pcXVlLCw=,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",                                 // binding data
    })
    void malformedClientFinalFails(String message) throws AuthException {
        ScramServer server = rfcServer();
        server.handleClientFirst(RFC_CLIENT_FIRST);
        AuthException e = assertThrows(AuthException.class, () -> server.handleClientFinal(message));
        assertEquals(ScramServer.FAILED, e.getMessage());
    }

    @Test
    void clientFinalExtensionsBeforeProofAreSigned() throws AuthException {
        ScramServer server = rfcServer();
        server.handleClientFirst(RFC_CLIENT_FIRST);
        // The RFC proof covers "c=...,r=..." only, so an inserted extension must break it.
        String withExtension = RFC_CLIENT_FINAL.replace(",p=", ",x=1,p=");
        AuthException e = assertThrows(AuthException.class, () -> server.handleClientFinal(withExtension));
        assertEquals("password authentication failed", e.detail());
    }

    @Test
    void serverEnforcesMessageOrder() throws AuthException {
        ScramServer early = rfcServer();
        assertThrows(AuthException.class, () -> early.handleClientFinal(RFC_CLIENT_FINAL));
        ScramServer twice = rfcServer();
        twice.handleClientFirst(RFC_CLIENT_FIRST);
        assertThrows(AuthException.class, () -> twice.handleClientFirst(RFC_CLIENT_FIRST));
    }

    @Test
    void serverRefusesOversizedMessage() throws AuthException {
        ScramServer server = rfcServer();
        String huge = "n,,n=,r=" + "a".repeat(5000);
        assertThrows(AuthException.class, () -> server.handleClientFirst(huge));
    }

    @Test
    void md5SecretCannotServeScram() {
        AuthException e = assertThrows(AuthException.class,
                () -> new ScramServer(Secret.parse("md545f2603610af569b6155c45067268c6b")));
        assertEquals(ScramServer.FAILED, e.getMessage());
        assertTrue(e.detail().contains("MD5"), e.detail());
    }

    @Test
    void emptyPlainSecretCannotServeScram() {
        assertThrows(AuthException.class, () -> new ScramServer(Secret.parse("")));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",              // nonce not extended
        "r=XOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",           // nonce not ours
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",            // bad salt
        "r=rOprNGfwEbeRWgbNEkqOabc,s=,i=4096",                                   // empty salt
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",         // above MAX_ITERATIONS
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1",       // garbage at end
        "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOabc,i=4096",           // wrong order
        "e=other-error",
    })
    void clientRejectsBadServerFirst(String serverFirst) {
        ScramClient client = rfcClient();
        client.clientFirstMessage();
        assertThrows(AuthException.class, () -> client.handleServerFirst(serverFirst));
    }

    @Test
    void clientReportsServerError() throws AuthException {
        ScramClient client = rfcClient();
        client.clientFirstMessage();
        client.handleServerFirst(RFC_SERVER_FIRST);
        AuthException e = assertThrows(AuthException.class, () -> client.verifyServerFinal("e=invalid-proof"));
        assertEquals("invalid-proof", e.getMessage());
        assertFalse(client.isComplete());
    }

    @Test
    void clientEnforcesMessageOrder() {
        ScramClient client = rfcClient();
        assertThrows(AuthException.class, () -> client.handleServerFirst(RFC_SERVER_FIRST), "before first");
        ScramClient other = rfcClient();
        other.clientFirstMessage();
        assertThrows(AuthException.class, () -> other.verifyServerFinal(RFC_SERVER_FINAL), "before server-first");
    }

    @Test
    void withKeysRefusesWrongLengths() {
        assertThrows(IllegalArgumentException.class, () -> ScramClient.withKeys(new byte[31], new byte[32]));
    }

    /** Garbage and mutated messages may fail or, for a lucky mutation, succeed, but only ever as AuthException. */
    @Test
    void garbageOnlyEverThrowsAuthException() throws AuthException {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        Secret secret = rfcSecret();
        String cheapServerFirst = "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16";
        int failures = 0;
        for (int i = 0; i < 3000; i++) {
            failures += attempt(seed,
                    () -> new ScramServer(secret).handleClientFirst(garbage(random, RFC_CLIENT_FIRST)));
            failures += attempt(seed, () -> {
                ScramServer server = rfcServer();
                server.handleClientFirst(RFC_CLIENT_FIRST);
                server.handleClientFinal(garbage(random, RFC_CLIENT_FINAL));
            });
            failures += attempt(seed, () -> {
                ScramClient client = rfcClient();
                client.clientFirstMessage();
                client.handleServerFirst(garbage(random, cheapServerFirst));
            });
            failures += attempt(seed, () -> {
                ScramClient client = rfcClient();
                client.clientFirstMessage();
                client.handleServerFirst(cheapServerFirst);
                client.verifyServerFinal(garbage(random, RFC_SERVER_FINAL));
            });
        }
        assertTrue(failures > 10_000, "garbage should mostly fail, seed " + seed + ": " + failures);
    }

    private interface Exchange {
        void run() throws AuthException;
    }

    private static int attempt(long seed, Exchange exchange) {
        try {
            exchange.run();
            return 0;
        } catch (AuthException expected) {
            return 1;
        } catch (RuntimeException e) {
            fail("seed " + seed + ": " + e, e);
            return 0;
        }
    }

    private static final String ALPHABET = "nypcrsiveam=,=,==abcXYZ019+/$%\u00e9\u0000\n ";

    /** Either random characters, or a valid message with a few characters inserted, deleted or replaced. */
    private static String garbage(Random random, String valid) {
        if (random.nextInt(4) == 0) {
            StringBuilder s = new StringBuilder();
            int length = random.nextInt(40);
            for (int i = 0; i < length; i++) {
                s.append(random.nextInt(10) == 0 ? (char) random.nextInt(0x3000) : ALPHABET.charAt(random.nextInt(
                        ALPHABET.length())));
            }
            return s.toString();
        }
        StringBuilder s = new StringBuilder(valid);
        int edits = 1 + random.nextInt(3);
        for (int i = 0; i < edits; i++) {
            int at = s.length() == 0 ? 0 : random.nextInt(s.length());
            char c = ALPHABET.charAt(random.nextInt(ALPHABET.length()));
            switch (random.nextInt(3)) {
                case 0 -> s.insert(at, c);
                case 1 -> {
                    if (s.length() > 0) {
                        s.deleteCharAt(at);
                    }
                }
                default -> {
                    if (s.length() > 0) {
                        s.setCharAt(at, c);
                    }
                }
            }
        }
        return s.toString();
    }

    private static String randomPassword(Random random) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 24; i++) {
            s.append((char) (0x21 + random.nextInt(0x5e)));
        }
        return s.toString();
    }
}
