package pgsvc.pooler.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class Md5Test {
    /** PgBouncer's documented example, also what PostgreSQL 15 stored for CREATE ROLE admin PASSWORD '1234'. */
    private static final String ADMIN_SECRET = "md545f2603610af569b6155c45067268c6b";
    private static final byte[] SALT = {0x01, 0x02, 0x03, 0x04};
    /** Computed with Python's hashlib: "md5" + md5("45f26...6c6b" + bytes 01 02 03 04). */
    private static final String ADMIN_RESPONSE = "md53db460fcab3fd3a6df7db145a8d8253b";

    @Test
    void encodeMatchesKnownVector() {
        assertEquals(ADMIN_SECRET, Md5.encode("1234", "admin"));
    }

    @Test
    void responseMatchesPrecomputedVector() {
        assertEquals(ADMIN_RESPONSE, Md5.response(ADMIN_SECRET, SALT));
        assertEquals("md578b732a6e6854239565dc8b2bd0002bf",
                Md5.response(ADMIN_SECRET, new byte[] {(byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef}));
    }

    @Test
    void responseMatchesIndependentComputation() throws Exception {
        byte[] salt = Md5.newSalt();
        MessageDigest md5 = MessageDigest.getInstance("MD5");
        md5.update("45f2603610af569b6155c45067268c6b".getBytes(StandardCharsets.US_ASCII));
        String expected = "md5" + HexFormat.of().formatHex(md5.digest(salt));
        assertEquals(expected, Md5.response(ADMIN_SECRET, salt));
    }

    @Test
    void responseRefusesNonMd5Secret() {
        assertThrows(IllegalArgumentException.class, () -> Md5.response("1234", SALT));
    }

    @Test
    void newSaltIsFourRandomBytes() {
        byte[] a = Md5.newSalt();
        byte[] b = Md5.newSalt();
        assertEquals(4, a.length);
        // Equal salts would happen with probability 2^-32 if the bytes were random.
        assertFalse(MessageDigest.isEqual(a, b));
    }

    @Test
    void verifyAcceptsTheRightResponseForMd5AndPlainSecrets() {
        assertTrue(Md5.verify(Secret.parse(ADMIN_SECRET), "admin", SALT, ADMIN_RESPONSE));
        assertTrue(Md5.verify(Secret.parse("1234"), "admin", SALT, ADMIN_RESPONSE));
    }

    @Test
    void verifyRejectsWrongResponses() {
        Secret stored = Secret.parse(ADMIN_SECRET);
        assertFalse(Md5.verify(stored, "admin", new byte[] {1, 2, 3, 5}, ADMIN_RESPONSE), "other salt");
        assertFalse(Md5.verify(Secret.parse("12345"), "admin", SALT, ADMIN_RESPONSE), "other password");
        assertFalse(Md5.verify(Secret.parse("1234"), "admin2", SALT, ADMIN_RESPONSE), "other user");
        assertFalse(Md5.verify(stored, "admin", SALT, ADMIN_RESPONSE.toUpperCase()), "upper case");
        assertFalse(Md5.verify(stored, "admin", SALT, ADMIN_RESPONSE.substring(0, 34)), "short");
        assertFalse(Md5.verify(stored, "admin", SALT, ADMIN_SECRET), "the secret itself");
        assertFalse(Md5.verify(stored, "admin", SALT, null), "missing");
        assertFalse(Md5.verify(Secret.parse(""), "admin", SALT, Md5.response(Md5.encode("", "admin"), SALT)),
                "empty password");
    }

    @Test
    void verifyCannotUseScramSecret() {
        Secret scram = Secret.scramFromPassword("1234", new byte[] {1, 2, 3}, 16);
        assertFalse(Md5.verify(scram, "admin", SALT, ADMIN_RESPONSE));
    }

    @Test
    void verifyCleartextAgainstPlainSecret() {
        assertTrue(Md5.verifyCleartext(Secret.parse("1234"), "admin", "1234"));
        assertFalse(Md5.verifyCleartext(Secret.parse("1234"), "admin", "12345"));
        assertFalse(Md5.verifyCleartext(Secret.parse("1234"), "admin", "123"));
        assertFalse(Md5.verifyCleartext(Secret.parse(""), "admin", ""));
    }

    @Test
    void verifyCleartextAgainstMd5Secret() {
        assertTrue(Md5.verifyCleartext(Secret.parse(ADMIN_SECRET), "admin", "1234"));
        assertFalse(Md5.verifyCleartext(Secret.parse(ADMIN_SECRET), "other", "1234"));
        assertFalse(Md5.verifyCleartext(Secret.parse(ADMIN_SECRET), "admin", ADMIN_SECRET));
    }

    @Test
    void verifyCleartextAgainstScramSecretFromPostgres() {
        Secret stored = Secret.parse(SecretTest.PG15_SECRET);
        assertTrue(Md5.verifyCleartext(stored, "x", "secret"));
        assertFalse(Md5.verifyCleartext(stored, "x", "Secret"));
        assertFalse(Md5.verifyCleartext(stored, "x", ""));
    }

    @Test
    void verifyCleartextAgainstNonAsciiScramSecretFromPostgres() {
        Secret stored = Secret.parse(SecretTest.PG15_SECRET_NON_ASCII);
        assertTrue(Md5.verifyCleartext(stored, "y", "p\u00e4ssw\u00f6rd"));
        assertFalse(Md5.verifyCleartext(stored, "y", "passwoerd"));
    }

    @Test
    void encodeDependsOnUser() {
        assertNotEquals(Md5.encode("1234", "admin"), Md5.encode("1234", "admin2"));
    }
}
