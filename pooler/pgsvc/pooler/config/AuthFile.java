package pgsvc.pooler.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code auth_file} (userlist.txt), read as PgBouncer's {@code load_auth_file} reads it: one user per line as
 * {@code "name" "secret"} with {@code ""} for a literal quote, anything after the second field ignored, lines starting
 * with {@code ;} skipped. On the first malformed line, including one starting with {@code #}, PgBouncer logs
 * {@code broken auth file} and stops: users above it are loaded, users below it are not. That is reproduced, and the
 * message is kept in {@link #warnings()} for the log. Immutable.
 */
public final class AuthFile {
    /** PgBouncer's MAX_USERNAME: the quoted name must be shorter than this many bytes. */
    public static final int MAX_USERNAME = 128;
    /** PgBouncer 1.25's MAX_PASSWORD: the quoted secret must be shorter than this many bytes. */
    public static final int MAX_PASSWORD = 2048;

    /** How a stored secret can be used ({@code get_password_type}). */
    public enum SecretKind {
        PLAIN,
        MD5,
        SCRAM_SHA_256
    }

    private final Path file;
    private final Map<String, String> secrets;
    private final List<String> warnings;

    private AuthFile(Path file, Map<String, String> secrets, List<String> warnings) {
        this.file = file;
        this.secrets = Collections.unmodifiableMap(secrets);
        this.warnings = Collections.unmodifiableList(warnings);
    }

    /**
     * Reads the file. A malformed line is not an error (PgBouncer keeps running with the users read so far); only an
     * unreadable file is.
     *
     * @throws ConfigException when the file cannot be read
     */
    public static AuthFile load(Path file) throws ConfigException {
        String text;
        try {
            text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ConfigException(file, "could not open auth_file: " + IniParser.describe(e), e);
        }
        Map<String, String> secrets = new LinkedHashMap<>();
        List<String> warnings = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String problem = parseLine(lines[i], secrets);
            if (problem != null) {
                warnings.add(file + ":" + (i + 1) + ": " + problem + "; users on later lines are not loaded");
                break;
            }
        }
        return new AuthFile(file, secrets, warnings);
    }

    /** Adds the line's user, or returns what is wrong with it. */
    private static String parseLine(String line, Map<String, String> secrets) {
        int p = 0;
        int n = line.length();
        while (p < n && IniParser.isSpace(line.charAt(p))) {
            p++;
        }
        if (p >= n || line.charAt(p) == ';') {
            return null;
        }
        if (line.charAt(p) != '"') {
            return "broken auth file";
        }
        int userStart = p + 1;
        int userEnd = closingQuote(line, userStart);
        if (userEnd < 0) {
            return "broken auth file";
        }
        String rawUser = line.substring(userStart, userEnd);
        if (rawUser.getBytes(StandardCharsets.UTF_8).length >= MAX_USERNAME) {
            return "username too long in auth file";
        }
        int passwordStart = line.indexOf('"', userEnd + 1);
        if (passwordStart < 0) {
            return "broken auth file";
        }
        passwordStart++;
        int passwordEnd = closingQuote(line, passwordStart);
        if (passwordEnd < 0) {
            return "broken auth file";
        }
        String rawPassword = line.substring(passwordStart, passwordEnd);
        if (rawPassword.getBytes(StandardCharsets.UTF_8).length >= MAX_PASSWORD) {
            return "password too long in auth file";
        }
        secrets.put(rawUser.replace("\"\"", "\""), rawPassword.replace("\"\"", "\""));
        return null;
    }

    /** Index of the quote ending a field that starts at {@code from}, skipping doubled quotes; -1 if none. */
    private static int closingQuote(String line, int from) {
        int p = from;
        while (true) {
            p = line.indexOf('"', p);
            if (p < 0) {
                return -1;
            }
            if (p + 1 < line.length() && line.charAt(p + 1) == '"') {
                p += 2;
                continue;
            }
            return p;
        }
    }

    /** The stored secret (plain password, {@code md5...} or SCRAM verifier), or null for an unknown user. */
    public String secret(String user) {
        return secrets.get(user);
    }

    /** The users, in file order. */
    public Set<String> users() {
        return secrets.keySet();
    }

    public Path file() {
        return file;
    }

    /** Lines that stopped the load, formatted {@code <path>:<line>: <problem>...}; empty for a clean file. */
    public List<String> warnings() {
        return warnings;
    }

    /**
     * Classifies a secret as PgBouncer does: {@code md5} followed by 32 hex digits is MD5, a parsable
     * {@code SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>} is SCRAM, anything else is a plain password.
     */
    public static SecretKind kindOf(String secret) {
        if (secret.length() == 35 && secret.startsWith("md5") && isHex(secret.substring(3))) {
            return SecretKind.MD5;
        }
        if (isScramSecret(secret)) {
            return SecretKind.SCRAM_SHA_256;
        }
        return SecretKind.PLAIN;
    }

    private static boolean isHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.digit(s.charAt(i), 16) < 0 || s.charAt(i) > 'f') {
                return false;
            }
        }
        return true;
    }

    private static boolean isScramSecret(String secret) {
        String prefix = "SCRAM-SHA-256$";
        if (!secret.startsWith(prefix)) {
            return false;
        }
        String[] parts = secret.substring(prefix.length()).split("\\$", -1);
        if (parts.length != 2) {
            return false;
        }
        String[] iterSalt = parts[0].split(":", -1);
        String[] keys = parts[1].split(":", -1);
        if (iterSalt.length != 2 || keys.length != 2) {
            return false;
        }
        try {
            if (Integer.parseInt(iterSalt[0]) <= 0) {
                return false;
            }
            Base64.Decoder b64 = Base64.getDecoder();
            return b64.decode(iterSalt[1]).length > 0
                    && b64.decode(keys[0]).length == 32
                    && b64.decode(keys[1]).length == 32;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
