package pgsvc.pooler.auth;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * SCRAM-SHA-256 primitives (RFC 5802, RFC 7677) and the attribute syntax shared by {@link ScramServer} and
 * {@link ScramClient}. Constants follow PostgreSQL's scram-common.h so that secrets and nonces look like the server's.
 */
final class Scram {
    static final String MECHANISM = "SCRAM-SHA-256";
    static final int KEY_LENGTH = 32;
    static final int RAW_NONCE_LENGTH = 18;
    static final int DEFAULT_SALT_LENGTH = 16;
    static final int DEFAULT_ITERATIONS = 4096;
    /** Longest SCRAM message taken from a peer; real ones are well under 200 characters. */
    static final int MAX_MESSAGE_LENGTH = 4096;

    static final SecureRandom RANDOM = new SecureRandom();

    private static final String HMAC = "HmacSHA256";
    private static final byte[] CLIENT_KEY = ascii("Client Key");
    private static final byte[] SERVER_KEY = ascii("Server Key");

    private Scram() {
    }

    /**
     * The password bytes that go into Hi(). PostgreSQL runs SASLprep (RFC 4013) and, when that fails (invalid UTF-8,
     * prohibited characters), hashes the raw bytes instead. An ASCII password is unchanged by SASLprep. For a
     * non-ASCII password this uses the raw UTF-8 bytes, which equals PostgreSQL's result whenever SASLprep fails or
     * the password is already NFKC-normalized without characters SASLprep maps (non-ASCII spaces, soft hyphens,
     * zero-width characters); only such unnormalized passwords (e.g. a ligature) derive different keys.
     */
    static byte[] preparePassword(String password) {
        return password.getBytes(StandardCharsets.UTF_8);
    }

    /** Hi(password, salt, i) of RFC 5802, i.e. PBKDF2-HMAC-SHA-256 with one output block. */
    static byte[] saltedPassword(byte[] password, byte[] salt, int iterations) {
        Mac mac = mac(password);
        mac.update(salt);
        mac.update(new byte[] {0, 0, 0, 1});
        byte[] u = mac.doFinal();
        byte[] result = u.clone();
        for (int i = 1; i < iterations; i++) {
            u = mac.doFinal(u);
            for (int j = 0; j < result.length; j++) {
                result[j] ^= u[j];
            }
        }
        return result;
    }

    static byte[] clientKey(byte[] saltedPassword) {
        return hmac(saltedPassword, CLIENT_KEY);
    }

    static byte[] serverKey(byte[] saltedPassword) {
        return hmac(saltedPassword, SERVER_KEY);
    }

    static byte[] storedKey(byte[] clientKey) {
        return sha256(clientKey);
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is required of every Java runtime", e);
        }
    }

    static byte[] hmac(byte[] key, byte[] data) {
        return mac(key).doFinal(data);
    }

    static byte[] hmac(byte[] key, String data) {
        return hmac(key, data.getBytes(StandardCharsets.UTF_8));
    }

    private static Mac mac(byte[] key) {
        try {
            Mac mac = Mac.getInstance(HMAC);
            // SecretKeySpec refuses an empty key; HMAC pads keys with zeros, so one zero byte is the same key.
            mac.init(new SecretKeySpec(key.length == 0 ? new byte[1] : key, HMAC));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is required of every Java runtime", e);
        }
    }

    static byte[] xor(byte[] a, byte[] b) {
        byte[] result = new byte[a.length];
        for (int i = 0; i < a.length; i++) {
            result[i] = (byte) (a[i] ^ b[i]);
        }
        return result;
    }

    static String randomNonce() {
        byte[] raw = new byte[RAW_NONCE_LENGTH];
        RANDOM.nextBytes(raw);
        return encode(raw);
    }

    static String encode(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }

    /**
     * Decodes base64 as PostgreSQL's pg_b64_decode accepts it: padded to a multiple of four, no whitespace. Returns
     * null instead of throwing, because every caller treats bad base64 as one more kind of malformed input.
     */
    static byte[] decode(String text) {
        if (text.length() % 4 != 0) {
            return null;
        }
        try {
            return Base64.getDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** RFC 5802 {@code printable}: %x21-2B / %x2D-7E, i.e. visible ASCII except the comma. */
    static boolean isPrintable(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x21 || c > 0x7E || c == ',') {
                return false;
            }
        }
        return true;
    }

    static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Reads {@code attr=value} pairs separated by commas. Every failure is an {@link AuthException} whose message is
     * PostgreSQL's log wording; each side decides what its peer gets to see.
     */
    static final class Reader {
        private final String text;
        private int pos;
        private boolean danglingComma;
        private char lastAttribute;

        Reader(String text) {
            this.text = text;
        }

        int position() {
            return pos;
        }

        boolean atEnd() {
            return pos >= text.length();
        }

        /** The next attribute letter, or 0 at the end. */
        char peek() {
            return atEnd() ? 0 : text.charAt(pos);
        }

        String value(char attr) throws AuthException {
            if (peek() != attr) {
                throw new AuthException("malformed SCRAM message (attribute \"" + attr + "\" expected)");
            }
            return readValue(attr);
        }

        /** Reads any attribute (an ASCII letter) and returns its value; {@link #lastAttribute()} names it. */
        String anyValue() throws AuthException {
            char attr = peek();
            if (!(attr >= 'A' && attr <= 'Z') && !(attr >= 'a' && attr <= 'z')) {
                throw new AuthException("malformed SCRAM message (attribute expected, but found invalid character "
                        + describe(attr) + ")");
            }
            lastAttribute = attr;
            return readValue(attr);
        }

        char lastAttribute() {
            return lastAttribute;
        }

        private String readValue(char attr) throws AuthException {
            if (pos + 1 >= text.length() || text.charAt(pos + 1) != '=') {
                throw new AuthException("malformed SCRAM message (expected \"=\" after attribute \"" + attr + "\")");
            }
            int start = pos + 2;
            int end = text.indexOf(',', start);
            if (end < 0) {
                pos = text.length();
                danglingComma = false;
            } else {
                pos = end + 1;
                danglingComma = pos == text.length();
            }
            return text.substring(start, end < 0 ? text.length() : end);
        }

        /** Fails unless everything was read and the text did not end with a separator. */
        void expectEnd(String what) throws AuthException {
            if (!atEnd() || danglingComma) {
                throw new AuthException("malformed SCRAM message (garbage at end of " + what + ")");
            }
        }

        private static String describe(char c) {
            return c >= 0x21 && c <= 0x7E ? "\"" + c + "\"" : String.format("0x%02x", (int) c);
        }
    }

    static void requireBounded(String message) throws AuthException {
        if (message == null || message.length() > MAX_MESSAGE_LENGTH) {
            throw new AuthException("malformed SCRAM message (missing or longer than " + MAX_MESSAGE_LENGTH
                    + " characters)");
        }
    }
}
