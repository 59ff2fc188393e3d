package pgsvc.pooler.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code key=value ...} strings of {@code [databases]}, {@code [users]} and {@code [peers]}, as PgBouncer's
 * {@code cstr_get_pair} reads them: pairs separated by whitespace; blanks around {@code =} are skipped; a value is
 * either bare (up to the next blank) or {@code 'single quoted'} with {@code ''} for a quote. Empty values are refused.
 * Double quotes, {@code service=} and {@code postgresql://} URIs have no meaning here: a double quote is an ordinary
 * character, as in PgBouncer.
 */
public final class ConnectionString {
    private ConnectionString() {
    }

    /**
     * Parses a connection string. A key given twice keeps its first position and its last value, the order in which
     * PgBouncer applies them.
     *
     * @return the pairs in order, unmodifiable; empty for an empty or blank string
     * @throws IllegalArgumentException with a precise problem text when the string is malformed
     */
    public static Map<String, String> parse(String text) {
        Map<String, String> pairs = new LinkedHashMap<>();
        int n = text.length();
        int p = skipSpace(text, 0);
        while (p < n) {
            int keyStart = p;
            while (p < n && text.charAt(p) != '=' && !IniParser.isSpace(text.charAt(p))) {
                p++;
            }
            String key = text.substring(keyStart, p);
            p = skipSpace(text, p);
            if (key.isEmpty()) {
                throw new IllegalArgumentException("syntax error in connection string: missing parameter name "
                        + "before \"=\"");
            }
            if (p >= n || text.charAt(p) != '=') {
                throw new IllegalArgumentException("syntax error in connection string: expected \"=\" after \""
                        + key + "\"");
            }
            p = skipSpace(text, p + 1);

            String value;
            if (p < n && text.charAt(p) == '\'') {
                StringBuilder sb = new StringBuilder();
                p++;
                while (true) {
                    if (p >= n) {
                        throw new IllegalArgumentException("syntax error in connection string: unterminated quoted "
                                + "value for \"" + key + "\"");
                    }
                    char c = text.charAt(p);
                    if (c == '\'') {
                        if (p + 1 < n && text.charAt(p + 1) == '\'') {
                            sb.append('\'');
                            p += 2;
                            continue;
                        }
                        p++;
                        break;
                    }
                    sb.append(c);
                    p++;
                }
                // PgBouncer silently eats the character after the closing quote, so 'a'b would lose the b;
                // refusing it is kinder than guessing.
                if (p < n && !IniParser.isSpace(text.charAt(p))) {
                    throw new IllegalArgumentException("syntax error in connection string: expected a blank after "
                            + "the quoted value of \"" + key + "\"");
                }
                value = sb.toString();
            } else {
                int valueStart = p;
                while (p < n && !IniParser.isSpace(text.charAt(p))) {
                    p++;
                }
                value = text.substring(valueStart, p);
            }
            if (value.isEmpty()) {
                throw new IllegalArgumentException("syntax error in connection string: empty value for \""
                        + key + "\"");
            }
            pairs.put(key, value);
            p = skipSpace(text, p);
        }
        return Collections.unmodifiableMap(pairs);
    }

    /** Quotes a value so that {@link #parse} gives it back, for writing connection strings. */
    public static String quote(String value) {
        return "'" + value.replace("'", "''") + "'";
    }

    private static int skipSpace(String text, int p) {
        while (p < text.length() && IniParser.isSpace(text.charAt(p))) {
            p++;
        }
        return p;
    }
}
