package pgsvc.pooler.auth;

import java.util.Objects;

/**
 * A password as stored in auth_file or returned by auth_query, classified the way PgBouncer's get_password_type does:
 * {@code md5} and 32 lowercase hex digits is an MD5 secret, a parsable {@code SCRAM-SHA-256$<iterations>:<salt>$
 * <StoredKey>:<ServerKey>} is a SCRAM secret, anything else is the plain password itself. Immutable.
 */
public final class Secret {
    /** What a stored secret is; decides which authentication methods it can serve. */
    public enum Kind {
        PLAIN, MD5, SCRAM
    }

    private static final int MD5_LENGTH = 35;
    private static final String SCRAM_PREFIX = Scram.MECHANISM;

    private final String text;
    private final Kind kind;
    private final int iterations;
    private final byte[] salt;
    private final byte[] storedKey;
    private final byte[] serverKey;

    private Secret(String text, Kind kind, int iterations, byte[] salt, byte[] storedKey, byte[] serverKey) {
        this.text = text;
        this.kind = kind;
        this.iterations = iterations;
        this.salt = salt;
        this.storedKey = storedKey;
        this.serverKey = serverKey;
    }

    public static Secret parse(String stored) {
        Objects.requireNonNull(stored, "stored");
        if (isMd5(stored)) {
            return new Secret(stored, Kind.MD5, 0, null, null, null);
        }
        Secret scram = parseScram(stored);
        return scram != null ? scram : new Secret(stored, Kind.PLAIN, 0, null, null, null);
    }

    /**
     * Builds the SCRAM secret PostgreSQL would store for this password with this salt and iteration count (see
     * {@link Scram#preparePassword} for how non-ASCII passwords are treated).
     */
    public static Secret scramFromPassword(String password, byte[] salt, int iterations) {
        Objects.requireNonNull(password, "password");
        if (salt.length == 0 || iterations < 1) {
            throw new IllegalArgumentException("SCRAM needs a non-empty salt and at least one iteration");
        }
        byte[] salted = Scram.saltedPassword(Scram.preparePassword(password), salt, iterations);
        byte[] stored = Scram.storedKey(Scram.clientKey(salted));
        byte[] server = Scram.serverKey(salted);
        String text = SCRAM_PREFIX + "$" + iterations + ":" + Scram.encode(salt) + "$" + Scram.encode(stored) + ":"
                + Scram.encode(server);
        return new Secret(text, Kind.SCRAM, iterations, salt.clone(), stored, server);
    }

    private static boolean isMd5(String stored) {
        if (stored.length() != MD5_LENGTH || !stored.startsWith("md5")) {
            return false;
        }
        for (int i = 3; i < MD5_LENGTH; i++) {
            char c = stored.charAt(i);
            if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    /**
     * PgBouncer splits the secret with strtok, which skips empty fields, and reads the count with strtol; both quirks
     * are kept so that a secret is SCRAM here exactly when it is SCRAM there.
     */
    private static Secret parseScram(String stored) {
        Tokenizer tokens = new Tokenizer(stored);
        String scheme = tokens.next("$");
        String iterationsText = tokens.next(":");
        String saltText = tokens.next("$");
        String storedKeyText = tokens.next(":");
        String serverKeyText = tokens.rest();
        if (serverKeyText == null || !scheme.equals(SCRAM_PREFIX)) {
            // rest() is null whenever an earlier token was missing, so every token is present past this point.
            return null;
        }
        Long iterations = strtol(iterationsText);
        byte[] salt = Scram.decode(saltText);
        byte[] storedKey = Scram.decode(storedKeyText);
        byte[] serverKey = Scram.decode(serverKeyText);
        if (iterations == null || salt == null || storedKey == null || storedKey.length != Scram.KEY_LENGTH
                || serverKey == null || serverKey.length != Scram.KEY_LENGTH) {
            return null;
        }
        // C converts the long to int by truncation; a nonsensical count keeps the secret SCRAM and fails later.
        return new Secret(stored, Kind.SCRAM, (int) iterations.longValue(), salt, storedKey, serverKey);
    }

    /** C strtol(s, &end, 10) that must consume the whole string: leading white space, optional sign, digits. */
    private static Long strtol(String s) {
        int i = 0;
        while (i < s.length() && " \t\n\u000b\f\r".indexOf(s.charAt(i)) >= 0) {
            i++;
        }
        boolean negative = false;
        if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
            negative = s.charAt(i) == '-';
            i++;
        }
        if (i == s.length()) {
            return null;
        }
        // Accumulate downwards so that Long.MIN_VALUE fits, as C libraries do; overflow is ERANGE, i.e. invalid.
        long limit = negative ? Long.MIN_VALUE : -Long.MAX_VALUE;
        long value = 0;
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return null;
            }
            int digit = c - '0';
            if (value < (limit + digit) / 10) {
                return null;
            }
            value = value * 10 - digit;
        }
        return negative ? value : -value;
    }

    /** C strtok over one string: each call skips leading delimiters, then takes up to the next delimiter. */
    private static final class Tokenizer {
        private final String text;
        private int pos;

        Tokenizer(String text) {
            this.text = text;
        }

        String next(String delimiters) {
            while (pos < text.length() && delimiters.indexOf(text.charAt(pos)) >= 0) {
                pos++;
            }
            if (pos >= text.length()) {
                return "";
            }
            int start = pos;
            while (pos < text.length() && delimiters.indexOf(text.charAt(pos)) < 0) {
                pos++;
            }
            String token = text.substring(start, pos);
            if (pos < text.length()) {
                pos++;
            }
            return token;
        }

        /** strtok(NULL, ""): whatever is left, or null when nothing is. */
        String rest() {
            return pos < text.length() ? text.substring(pos) : null;
        }
    }

    public Kind kind() {
        return kind;
    }

    /** The secret exactly as stored: the password itself for PLAIN, {@code md5...} or {@code SCRAM-SHA-256$...}. */
    public String text() {
        return text;
    }

    public int iterations() {
        requireScram();
        return iterations;
    }

    public byte[] salt() {
        requireScram();
        return salt.clone();
    }

    public byte[] storedKey() {
        requireScram();
        return storedKey.clone();
    }

    public byte[] serverKey() {
        requireScram();
        return serverKey.clone();
    }

    private void requireScram() {
        if (kind != Kind.SCRAM) {
            throw new IllegalStateException("not a SCRAM secret: " + kind);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Secret && ((Secret) o).text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    /** Never the secret itself: secrets end up in log lines through string concatenation. */
    @Override
    public String toString() {
        return "Secret(" + kind + ")";
    }
}
