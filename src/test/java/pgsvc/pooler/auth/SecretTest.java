package pgsvc.pooler.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SecretTest {
    /**
     * Produced once by PostgreSQL 15.x: {@code SET password_encryption = 'scram-sha-256'; CREATE ROLE x PASSWORD
     * 'secret'; SELECT rolpassword FROM pg_authid WHERE rolname = 'x'}.
     */
    static final String PG15_SECRET = "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg==$"
            + "CbdqsSRmTpKN8j0uJ7iyvIMJ4FgqbNXj2SV1VJt760M=:mtIpGRGhVoXfUQtgQJEbcHXMxXw6VhiLiu+uy8hzoIw=";
    /** Same, for role y with password 'pässwörd' (UTF-8, already NFKC-normalized, so SASLprep leaves it alone). */
    static final String PG15_SECRET_NON_ASCII = "SCRAM-SHA-256$4096:w+BxfHxZwaxMQ3zzMczGbw==$"
            + "v2M1ApqfHMXoQzyfLJCDTHFC+H0VyfcXHvJSWk36cZ0=:VVZywC9x17B8hqtqGe1jzC5bfnEN4IiVAlIrpnATY+4=";

    private static final String KEY = "CbdqsSRmTpKN8j0uJ7iyvIMJ4FgqbNXj2SV1VJt760M=";

    @Test
    void md5WithThirtyTwoHexDigitsIsMd5() {
        assertEquals(Secret.Kind.MD5, Secret.parse("md545f2603610af569b6155c45067268c6b").kind());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "md545f2603610af569b6155c45067268c6",       // 31 hex digits
        "md545f2603610af569b6155c45067268c6b0",     // 33 hex digits
        "md545F2603610AF569B6155C45067268C6B",      // PgBouncer accepts lower case only
        "md545f2603610af569b6155c45067268c6g",      // not hex
        "MD545f2603610af569b6155c45067268c6b",
        "",
        "1234",
        "SCRAM-SHA-256",
    })
    void anythingElseShortOfScramIsPlain(String stored) {
        Secret secret = Secret.parse(stored);
        assertEquals(Secret.Kind.PLAIN, secret.kind());
        assertEquals(stored, secret.text());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "SCRAM-SHA-1$4096:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY,      // other mechanism
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg==$" + KEY,                // no ServerKey
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":",          // empty ServerKey
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BX$" + KEY + ":" + KEY,       // salt not padded
        "SCRAM-SHA-256$4096:RVdP2rle!SWryDrwIM4BXg==$" + KEY + ":" + KEY,    // salt not base64
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg==$AAAA:" + KEY,           // StoredKey not 32 bytes
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY + "AAAA", // ServerKey too long
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY + ":x",   // trailing field
        "SCRAM-SHA-256$4k:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY,      // count not a number
        "SCRAM-SHA-256$:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY,        // count missing
        "SCRAM-SHA-256$99999999999999999999:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY, // count overflows
        "SCRAM-SHA-256$4096:RVdP2rle7SWryDrwIM4BXg== $" + KEY + ":" + KEY,   // white space in base64
    })
    void malformedScramIsPlain(String stored) {
        assertEquals(Secret.Kind.PLAIN, Secret.parse(stored).kind());
    }

    @Test
    void postgresSecretParses() {
        Secret secret = Secret.parse(PG15_SECRET);
        assertEquals(Secret.Kind.SCRAM, secret.kind());
        assertEquals(4096, secret.iterations());
        assertArrayEquals(Base64.getDecoder().decode("RVdP2rle7SWryDrwIM4BXg=="), secret.salt());
        assertArrayEquals(Base64.getDecoder().decode(KEY), secret.storedKey());
        assertArrayEquals(Base64.getDecoder().decode("mtIpGRGhVoXfUQtgQJEbcHXMxXw6VhiLiu+uy8hzoIw="),
                secret.serverKey());
        assertEquals(PG15_SECRET, secret.text());
    }

    @Test
    void pgbouncerStrtokQuirksAreKept() {
        // strtok skips leading delimiters of the field it reads and strtol takes white space and a sign: PgBouncer
        // calls these SCRAM secrets (checked against glibc strtok/strtol).
        Secret doubled = Secret.parse("$SCRAM-SHA-256$:4096:RVdP2rle7SWryDrwIM4BXg==$:" + KEY + ":" + KEY);
        assertEquals(Secret.Kind.SCRAM, doubled.kind());
        assertEquals(4096, doubled.iterations());
        assertEquals(Secret.Kind.PLAIN,
                Secret.parse("SCRAM-SHA-256$$4096:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY).kind());
        Secret signed = Secret.parse("SCRAM-SHA-256$ +12:RVdP2rle7SWryDrwIM4BXg==$" + KEY + ":" + KEY);
        assertEquals(Secret.Kind.SCRAM, signed.kind());
        assertEquals(12, signed.iterations());
        assertEquals(-1, Secret.parse("SCRAM-SHA-256$-1:AAAA$" + KEY + ":" + KEY).iterations());
    }

    @Test
    void scramFromPasswordReproducesPostgresSecret() {
        Secret pg = Secret.parse(PG15_SECRET);
        assertEquals(PG15_SECRET, Secret.scramFromPassword("secret", pg.salt(), pg.iterations()).text());
    }

    @Test
    void scramFromPasswordUsesUtf8BytesForNonAscii() {
        Secret pg = Secret.parse(PG15_SECRET_NON_ASCII);
        assertEquals(PG15_SECRET_NON_ASCII,
                Secret.scramFromPassword("p\u00e4ssw\u00f6rd", pg.salt(), pg.iterations()).text());
    }

    @Test
    void scramFromPasswordRoundTripsThroughParse() {
        Secret built = Secret.scramFromPassword("pw", new byte[] {9, 8, 7}, 5);
        Secret parsed = Secret.parse(built.text());
        assertEquals(Secret.Kind.SCRAM, parsed.kind());
        assertEquals(built, parsed);
        assertArrayEquals(built.storedKey(), parsed.storedKey());
        assertArrayEquals(built.serverKey(), parsed.serverKey());
    }

    @Test
    void scramFromPasswordRefusesNoSaltOrIterations() {
        assertThrows(IllegalArgumentException.class, () -> Secret.scramFromPassword("pw", new byte[0], 4096));
        assertThrows(IllegalArgumentException.class, () -> Secret.scramFromPassword("pw", new byte[] {1}, 0));
    }

    @Test
    void accessorsReturnCopies() {
        Secret secret = Secret.parse(PG15_SECRET);
        secret.salt()[0] ^= 1;
        secret.storedKey()[0] ^= 1;
        secret.serverKey()[0] ^= 1;
        assertArrayEquals(Secret.parse(PG15_SECRET).salt(), secret.salt());
        assertArrayEquals(Secret.parse(PG15_SECRET).storedKey(), secret.storedKey());
        assertArrayEquals(Secret.parse(PG15_SECRET).serverKey(), secret.serverKey());
    }

    @Test
    void scramAccessorsRefuseOtherKinds() {
        assertThrows(IllegalStateException.class, () -> Secret.parse("1234").salt());
        Secret md5 = Secret.parse("md545f2603610af569b6155c45067268c6b");
        assertThrows(IllegalStateException.class, md5::iterations);
    }

    @Test
    void toStringDoesNotLeakTheSecret() {
        assertFalse(Secret.parse("hunter2").toString().contains("hunter2"));
        assertFalse(Secret.parse(PG15_SECRET).toString().contains("RVdP2rle"));
    }
}
