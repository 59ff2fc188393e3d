package pgsvc.pooler.auth;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Objects;

/**
 * PostgreSQL's MD5 password scheme: the stored secret is {@code "md5" + md5(password + user)}, and a client answers
 * AuthenticationMD5Password with {@code "md5" + md5(hex part of that secret + 4-byte salt)}. Also the check of a
 * cleartext password (auth_type {@code plain}) against any kind of stored secret, as PgBouncer's check_client_passwd.
 */
public final class Md5 {
    private static final int SALT_LENGTH = 4;
    private static final int SECRET_LENGTH = 35;
    private static final char[] HEX = "0123456789abcdef".toCharArray();
    /** Cloned for each use: a clone skips the provider lookup of MessageDigest.getInstance, a tenth of a login. */
    private static final MessageDigest MD5;

    static {
        try {
            MD5 = MessageDigest.getInstance("MD5");
        } catch (GeneralSecurityException e) {
            throw new ExceptionInInitializerError("MD5 is required of every Java runtime: " + e);
        }
    }

    private Md5() {
    }

    /** The MD5 secret PostgreSQL stores for this user and password. */
    public static String encode(String password, String user) {
        return "md5" + md5Hex(password.getBytes(StandardCharsets.UTF_8), user.getBytes(StandardCharsets.UTF_8));
    }

    /** A fresh salt for AuthenticationMD5Password. */
    public static byte[] newSalt() {
        byte[] salt = new byte[SALT_LENGTH];
        Scram.RANDOM.nextBytes(salt);
        return salt;
    }

    /** What a client sends in its PasswordMessage for this MD5 secret and salt. */
    public static String response(String md5Secret, byte[] salt) {
        if (md5Secret.length() != SECRET_LENGTH || !md5Secret.startsWith("md5")) {
            throw new IllegalArgumentException("not an MD5 secret");
        }
        return "md5" + md5Hex(md5Secret.substring(3).getBytes(StandardCharsets.US_ASCII), salt);
    }

    /**
     * Checks a client's answer to AuthenticationMD5Password. A PLAIN secret is hashed first; a SCRAM secret cannot
     * serve MD5 (PgBouncer upgrades such users to SCRAM instead), and an empty secret never matches.
     */
    public static boolean verify(Secret stored, String user, byte[] salt, String clientResponse) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(salt, "salt");
        if (clientResponse == null || clientResponse.length() != SECRET_LENGTH || stored.text().isEmpty()) {
            return false;
        }
        String md5Secret = switch (stored.kind()) {
            case PLAIN -> encode(stored.text(), user);
            case MD5 -> stored.text();
            case SCRAM -> null;
        };
        // Both are 35 characters here, and MessageDigest.isEqual takes the same time for any two of one length.
        return md5Secret != null && MessageDigest.isEqual(response(md5Secret, salt).getBytes(StandardCharsets.UTF_8),
                clientResponse.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Checks a cleartext password (AuthenticationCleartextPassword) against any stored secret: PLAIN compares, MD5
     * hashes the password with the user name, SCRAM derives both keys with the secret's salt and iteration count.
     */
    public static boolean verifyCleartext(Secret stored, String user, String password) {
        Objects.requireNonNull(user, "user");
        if (password == null || password.isEmpty() || stored.text().isEmpty()) {
            return false;
        }
        return switch (stored.kind()) {
            case PLAIN -> constantTimeEquals(stored.text(), password);
            case MD5 -> constantTimeEquals(stored.text(), encode(password, user));
            case SCRAM -> verifyScram(stored, password);
        };
    }

    private static boolean verifyScram(Secret stored, String password) {
        if (stored.iterations() < 1) {
            return false;
        }
        byte[] salted = Scram.saltedPassword(Scram.preparePassword(password), stored.salt(), stored.iterations());
        boolean storedKeyMatches = MessageDigest.isEqual(Scram.storedKey(Scram.clientKey(salted)), stored.storedKey());
        boolean serverKeyMatches = MessageDigest.isEqual(Scram.serverKey(salted), stored.serverKey());
        return storedKeyMatches & serverKeyMatches;
    }

    /** Compares digests, because MessageDigest.isEqual returns early on a length mismatch and would leak it. */
    private static boolean constantTimeEquals(String a, String b) {
        return MessageDigest.isEqual(Scram.sha256(a.getBytes(StandardCharsets.UTF_8)),
                Scram.sha256(b.getBytes(StandardCharsets.UTF_8)));
    }

    private static String md5Hex(byte[] first, byte[] second) {
        MessageDigest md5;
        try {
            md5 = (MessageDigest) MD5.clone();
        } catch (CloneNotSupportedException e) {
            throw new IllegalStateException("the MD5 digest of this runtime cannot be cloned", e);
        }
        md5.update(first);
        byte[] digest = md5.digest(second);
        char[] hex = new char[digest.length * 2];
        for (int i = 0; i < digest.length; i++) {
            hex[2 * i] = HEX[(digest[i] >> 4) & 0xF];
            hex[2 * i + 1] = HEX[digest[i] & 0xF];
        }
        return new String(hex);
    }
}
