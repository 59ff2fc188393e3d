package pgsvc.pooler;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The parameters that follow a client from server to server (PgBouncer's varcache): the client's values are kept here
 * and replayed with SET when the client lands on a server whose values differ.
 */
final class TrackedParams {
    /** PgBouncer 1.25's set plus default_transaction_read_only, which 1.26 tracks and read-only services set. */
    static final List<String> ALWAYS = List.of(
            "client_encoding", "DateStyle", "TimeZone", "standard_conforming_strings", "application_name",
            "default_transaction_read_only");

    /** Bound on {@link #canonical}'s table: values past it (many distinct application_names) are kept as they are. */
    private static final int CANONICAL_LIMIT = 4096;

    private final String[] names;
    private final String[] lowerNames;
    /** One instance per distinct value, so that a server and a client that agree usually hold the same String. */
    private final ConcurrentHashMap<String, String> canonical = new ConcurrentHashMap<>();

    TrackedParams(List<String> extra) {
        List<String> all = new ArrayList<>(ALWAYS);
        for (String e : extra) {
            if (indexIn(all, e) < 0) {
                all.add(e);
            }
        }
        names = all.toArray(new String[0]);
        lowerNames = new String[names.length];
        for (int i = 0; i < names.length; i++) {
            lowerNames[i] = names[i].toLowerCase(Locale.ROOT);
        }
    }

    private static int indexIn(List<String> list, String name) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i).equalsIgnoreCase(name)) {
                return i;
            }
        }
        return -1;
    }

    int size() {
        return names.length;
    }

    String name(int i) {
        return names[i];
    }

    /** Index of a parameter name (case-insensitive, as PostgreSQL treats GUC names), or -1 if not tracked. */
    int indexOf(String name) {
        for (int i = 0; i < lowerNames.length; i++) {
            if (lowerNames[i].equalsIgnoreCase(name)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The shared instance of a value: set at login (a server's ParameterStatus, a client's startup parameter), so
     * that the comparison at every hand-off is usually an identity check rather than a case-insensitive compare.
     */
    String canonical(String value) {
        if (value == null) {
            return null;
        }
        String known = canonical.get(value);
        if (known != null) {
            return known;
        }
        if (canonical.size() >= CANONICAL_LIMIT) {
            return value;
        }
        known = canonical.putIfAbsent(value, value);
        return known != null ? known : value;
    }

    String[] newValues() {
        return new String[names.length];
    }

    /**
     * The SET statements that make a server's values equal to a client's, or null when they already agree.
     * Values are compared case-insensitively, as PgBouncer does, since the server canonicalizes what it reports.
     */
    String setStatements(String[] client, String[] server) {
        StringBuilder sql = null;
        for (int i = 0; i < names.length; i++) {
            String want = client[i];
            String has = server[i];
            if (want == null || want == has || want.equalsIgnoreCase(has == null ? "" : has)) {
                continue;
            }
            if (sql == null) {
                sql = new StringBuilder(64);
            }
            sql.append("SET ").append(names[i]).append('=').append(quoteLiteral(want)).append(';');
        }
        return sql == null ? null : sql.toString();
    }

    static String quoteLiteral(String value) {
        StringBuilder b = new StringBuilder(value.length() + 2);
        boolean backslash = value.indexOf('\\') >= 0;
        if (backslash) {
            b.append('E');
        }
        b.append('\'');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\'' || (backslash && c == '\\')) {
                b.append(c);
            }
            b.append(c);
        }
        return b.append('\'').toString();
    }
}
