package pgsvc.pooler.auth;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConfigException;

/**
 * The {@code auth_hba_file} for {@code auth_type = hba}: PgBouncer's subset of pg_hba.conf (src/hba.c), first matching
 * line wins.
 * <ul>
 * <li>Types {@code local}, {@code host}, {@code hostssl}, {@code hostnossl}.</li>
 * <li>Database and user columns: comma lists of names (quoted or not), {@code all}, {@code sameuser},
 * {@code replication} (physical replication connections only; {@code all} does not match them), {@code @file}.
 * As in PgBouncer both columns take the same keywords: {@code sameuser} in the user column matches a user named like
 * the database, and {@code replication} there matches nothing.</li>
 * <li>Address: {@code all}, an IPv4 or IPv6 address with {@code /bits}, or an address and a mask column. An address
 * with bits outside its mask only gets a warning, as in PgBouncer, and then never matches. An IPv4 rule never matches
 * an IPv6 client and the other way round.</li>
 * <li>Methods {@code trust}, {@code reject}, {@code md5}, {@code password}, {@code scram-sha-256}, {@code cert},
 * {@code peer}; one option, {@code map=<name>}, naming a map of the {@code auth_ident_file}.</li>
 * </ul>
 * A line that does not parse (unknown type or method, {@code samerole}, {@code +group}, a host name, a missing
 * {@code @file}, an unknown map...) is skipped with a warning naming file and line; the file still loads.
 * <p>{@code @file} is read relative to the directory of the file that names it. Deliberately more lenient than
 * PgBouncer, whose {@code parse_namefile} drops the whole rule on a blank or comment line in the included file and
 * ignores names after the first on a line without commas: here blank and {@code #} lines are skipped and names may be
 * separated by whitespace or commas, as PostgreSQL reads such files. Immutable.
 */
public final class Hba {
    /** How a matching rule authenticates. */
    public enum Method {
        TRUST("trust"),
        REJECT("reject"),
        MD5("md5"),
        PASSWORD("password"),
        SCRAM_SHA_256("scram-sha-256"),
        CERT("cert"),
        PEER("peer");

        private final String keyword;

        Method(String keyword) {
            this.keyword = keyword;
        }

        /** The word in the file. */
        public String keyword() {
            return keyword;
        }

        static Method of(HbaTokens t) {
            for (Method m : values()) {
                if (t.isKeyword(m.keyword)) {
                    return m;
                }
            }
            return null;
        }
    }

    /** A rule as {@link #match} returns it: its line in the HBA file, its method and its {@code map=} (or null). */
    public record Rule(int line, Method method, IdentFile.IdentMap map) {
    }

    private enum Type { LOCAL, HOST, HOSTSSL, HOSTNOSSL }

    /** The database or user column: keywords seen and names listed. */
    private static final class Names {
        private boolean all;
        private boolean sameUser;
        private boolean replication;
        private final Set<String> names = new HashSet<>();

        /** {@code pair} is the other column's value: the user for the database column and the other way round. */
        boolean matches(String name, String pair) {
            return all || (sameUser && name.equals(pair)) || names.contains(name);
        }
    }

    /** One parsed line; {@code address} is null for {@code local} and for {@code all}. */
    private record Entry(Type type, Names databases, Names users, byte[] address, byte[] mask, Rule rule) {
    }

    private static final int MAX_INCLUDE_DEPTH = 16;

    private final Path file;
    private final List<Entry> entries;
    private final List<String> warnings;
    private final OsUsers osUsers;

    private Hba(Path file, List<Entry> entries, List<String> warnings, OsUsers osUsers) {
        this.file = file;
        this.entries = List.copyOf(entries);
        this.warnings = List.copyOf(warnings);
        this.osUsers = osUsers;
    }

    /** Reads an HBA file without an ident file: a {@code map=} line is skipped. */
    public static Hba load(Path file) throws ConfigException {
        return load(file, null);
    }

    /**
     * Reads the HBA file, the ident file ({@code auth_ident_file}, may be null) and {@code /etc/passwd} for peer
     * authentication.
     *
     * @throws ConfigException when the HBA or the ident file cannot be read
     */
    public static Hba load(Path file, Path identFile) throws ConfigException {
        return load(file, identFile, OsUsers.PASSWD);
    }

    /**
     * The rules for this configuration: null unless auth_type = hba. File names are relative to the working
     * directory, as auth_file's. PgBouncer starts with no rules (every login fails) when the file cannot be read;
     * here that, and a missing auth_hba_file, is a load error instead.
     */
    public static Hba loadFor(Config config) throws ConfigException {
        if (!config.authType().equals("hba")) {
            return null;
        }
        String hbaFile = config.get("auth_hba_file");
        if (hbaFile == null || hbaFile.isEmpty()) {
            throw new ConfigException(config.file(), "auth_type = hba needs auth_hba_file");
        }
        String identFile = config.get("auth_ident_file");
        Path cwd = Path.of(System.getProperty("user.dir"));
        return load(cwd.resolve(hbaFile), identFile == null || identFile.isEmpty() ? null : cwd.resolve(identFile));
    }

    static Hba load(Path file, Path identFile, Path passwd) throws ConfigException {
        List<String> warnings = new ArrayList<>();
        IdentFile ident = null;
        if (identFile != null) {
            try {
                ident = IdentFile.load(identFile);
            } catch (IOException e) {
                throw new ConfigException(identFile, "could not open auth_ident_file: " + describe(e), e);
            }
            warnings.addAll(ident.warnings());
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ConfigException(file, "could not open auth_hba_file: " + describe(e), e);
        }
        List<Entry> entries = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            Parser p = new Parser(file, i + 1, ident, warnings);
            String problem = p.parseLine(lines[i], entries);
            if (problem != null) {
                warnings.add(file + ":" + (i + 1) + ": " + problem + "; line skipped");
            }
        }
        OsUsers osUsers = OsUsers.NONE;
        if (entries.stream().anyMatch(e -> e.rule().method() == Method.PEER)) {
            try {
                osUsers = OsUsers.load(passwd);
            } catch (IOException e) {
                warnings.add(passwd + ": " + describe(e) + "; peer authentication will fail");
            }
        }
        return new Hba(file, entries, warnings, osUsers);
    }

    private static String describe(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /**
     * The first rule that matches, or null (PgBouncer: FATAL {@code no authentication method is found}).
     *
     * @param address the client's IP address, or null for a Unix-socket client
     * @param tls whether the client connection is encrypted
     */
    public Rule match(ConnectionKind kind, String database, String user, InetAddress address, boolean tls) {
        byte[] client = address == null ? null : address.getAddress();
        for (Entry e : entries) {
            if (client == null) {
                if (e.type() != Type.LOCAL) {
                    continue;
                }
            } else if (e.type() == Type.LOCAL
                    || (e.type() == Type.HOSTSSL && !tls)
                    || (e.type() == Type.HOSTNOSSL && tls)
                    || !addressMatches(e, client)) {
                continue;
            }
            if (kind == ConnectionKind.PHYSICAL_REPLICATION) {
                if (!e.databases().replication) {
                    continue;
                }
            } else if (!e.databases().matches(database, user)) {
                continue;
            }
            if (!e.users().matches(user, database)) {
                continue;
            }
            return e.rule();
        }
        return null;
    }

    private static boolean addressMatches(Entry e, byte[] client) {
        if (e.address() == null) {
            return true;
        }
        if (client.length != e.address().length) {
            return false;
        }
        for (int i = 0; i < client.length; i++) {
            if ((client[i] & e.mask()[i]) != e.address()[i]) {
                return false;
            }
        }
        return true;
    }

    /** The OS user name of a uid, from the passwd file read with the rules; null if unknown. */
    public String osUserName(int uid) {
        return osUsers.name(uid);
    }

    public Path file() {
        return file;
    }

    /** Skipped lines and other problems, each naming file and line; empty for a clean file. */
    public List<String> warnings() {
        return warnings;
    }

    /** The parse of one line of the HBA file. */
    private static final class Parser {
        private final Path file;
        private final int line;
        private final IdentFile ident;
        private final List<String> warnings;

        Parser(Path file, int line, IdentFile ident, List<String> warnings) {
            this.file = file;
            this.line = line;
            this.ident = ident;
            this.warnings = warnings;
        }

        /** Adds the line's rule, or returns what is wrong with it. */
        String parseLine(String text, List<Entry> entries) {
            HbaTokens t = new HbaTokens(text);
            if (t.type() == HbaTokens.Type.EOL) {
                return null;
            }
            Type type;
            if (t.isKeyword("local")) {
                type = Type.LOCAL;
            } else if (t.isKeyword("host")) {
                type = Type.HOST;
            } else if (t.isKeyword("hostssl")) {
                type = Type.HOSTSSL;
            } else if (t.isKeyword("hostnossl")) {
                type = Type.HOSTNOSSL;
            } else {
                return "unknown connection type " + quoted(t);
            }
            t.next();
            Names databases = new Names();
            String problem = names(t, databases, file, new ArrayDeque<>());
            if (problem != null) {
                return "database column: " + problem;
            }
            Names users = new Names();
            problem = names(t, users, file, new ArrayDeque<>());
            if (problem != null) {
                return "user column: " + problem;
            }
            byte[] address = null;
            byte[] mask = null;
            if (type != Type.LOCAL) {
                if (t.isKeyword("all")) {
                    t.next();
                } else {
                    if (t.type() != HbaTokens.Type.IDENT) {
                        return "missing address";
                    }
                    String token = t.text();
                    int slash = token.indexOf('/');
                    String host = slash < 0 ? token : token.substring(0, slash);
                    address = parseAddress(host);
                    if (address == null) {
                        return "invalid IP address \"" + host + "\" (host names, samehost and samenet are not "
                                + "supported)";
                    }
                    if (slash >= 0) {
                        mask = prefixMask(token.substring(slash + 1), address.length);
                        if (mask == null) {
                            return "invalid CIDR mask in address \"" + token + "\"";
                        }
                        t.next();
                    } else {
                        t.next();
                        if (t.type() != HbaTokens.Type.IDENT) {
                            return "missing netmask after address \"" + host + "\"";
                        }
                        mask = parseAddress(t.text());
                        if (mask == null || mask.length != address.length) {
                            return "invalid netmask \"" + t.text() + "\"";
                        }
                        t.next();
                    }
                    if (!fitsMask(address, mask)) {
                        warnings.add(file + ":" + line + ": address " + host + " has bits outside its mask; "
                                + "the rule never matches");
                    }
                }
            }
            Method method = Method.of(t);
            if (method == null) {
                return t.type() == HbaTokens.Type.EOL ? "missing authentication method"
                        : "unsupported authentication method " + quoted(t);
            }
            t.next();
            IdentFile.IdentMap map = null;
            if (t.type() == HbaTokens.Type.IDENT) {
                if (!t.text().startsWith("map=")) {
                    return "unsupported option " + quoted(t) + " (only map=<name> is)";
                }
                String name = t.text().substring(4);
                map = ident == null ? null : ident.map(name);
                if (map == null) {
                    return ident == null ? "map=" + name + " needs an auth_ident_file"
                            : "ident map \"" + name + "\" is not in the auth_ident_file";
                }
                t.next();
            }
            if (t.type() != HbaTokens.Type.EOL) {
                return "unsupported parameters after the method";
            }
            entries.add(new Entry(type, databases, users, address, mask, new Rule(line, method, map)));
            return null;
        }

        /** A comma list of names and keywords into {@code into}; stops before the first token after it. */
        private String names(HbaTokens t, Names into, Path from, Deque<Path> including) {
            while (true) {
                if (t.isKeyword("all")) {
                    into.all = true;
                } else if (t.isKeyword("sameuser")) {
                    into.sameUser = true;
                } else if (t.isKeyword("replication")) {
                    into.replication = true;
                } else if (t.isKeyword("samerole") || t.isKeyword("samegroup")) {
                    return t.text() + " is not supported";
                } else if (t.type() == HbaTokens.Type.IDENT && t.text().startsWith("+")) {
                    return "group names (" + t.text() + ") are not supported";
                } else if (t.type() == HbaTokens.Type.IDENT && t.text().startsWith("@")) {
                    String problem = include(t.text().substring(1), into, from, including);
                    if (problem != null) {
                        return problem;
                    }
                } else if (t.isName()) {
                    into.names.add(t.text());
                } else {
                    return t.type() == HbaTokens.Type.FAIL ? "unterminated quoted name" : "missing name";
                }
                t.next();
                if (t.type() != HbaTokens.Type.COMMA) {
                    return null;
                }
                t.next();
            }
        }

        /** Adds the names of an {@code @file}, read relative to the directory of {@code from}. */
        private String include(String name, Names into, Path from, Deque<Path> including) {
            if (name.isEmpty()) {
                return "missing file name after @";
            }
            Path dir = from.toAbsolutePath().getParent();
            Path target = (dir == null ? Path.of(name) : dir.resolve(name)).normalize();
            if (including.contains(target) || including.size() >= MAX_INCLUDE_DEPTH) {
                return "@" + name + ": include loop (" + target + ")";
            }
            String text;
            try {
                text = Files.readString(target, StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "could not read @" + name + " (" + target + "): " + describe(e);
            }
            including.push(target);
            try {
                String[] lines = text.split("\n", -1);
                for (int i = 0; i < lines.length; i++) {
                    HbaTokens t = new HbaTokens(lines[i]);
                    while (t.type() != HbaTokens.Type.EOL) {
                        String problem = names(t, into, target, including);
                        if (problem != null) {
                            return target + ":" + (i + 1) + ": " + problem;
                        }
                    }
                }
            } finally {
                including.pop();
            }
            return null;
        }

        private static String quoted(HbaTokens t) {
            return t.text() == null ? t.type().name() : "\"" + t.text() + "\"";
        }
    }

    /** Numeric IPv4 or IPv6 only, as inet_pton (IPv6 tried first): never a DNS lookup. */
    static byte[] parseAddress(String s) {
        byte[] v6 = parseIpv6(s);
        return v6 != null ? v6 : parseIpv4(s);
    }

    /** glibc's inet_pton(AF_INET): exactly four decimal parts 0-255, no leading zeros. */
    static byte[] parseIpv4(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] out = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.isEmpty() || p.length() > 3 || (p.length() > 1 && p.charAt(0) == '0')) {
                return null;
            }
            int v = 0;
            for (int k = 0; k < p.length(); k++) {
                char c = p.charAt(k);
                if (c < '0' || c > '9') {
                    return null;
                }
                v = v * 10 + (c - '0');
            }
            if (v > 255) {
                return null;
            }
            out[i] = (byte) v;
        }
        return out;
    }

    /** inet_pton(AF_INET6): groups of 1-4 hex digits, one {@code ::}, an optional trailing dotted IPv4. */
    static byte[] parseIpv6(String s) {
        if (s.indexOf(':') < 0) {
            return null;
        }
        byte[] out = new byte[16];
        int gap = s.indexOf("::");
        if (gap >= 0 && s.indexOf("::", gap + 1) >= 0) {
            return null;
        }
        String head = gap < 0 ? s : s.substring(0, gap);
        String tail = gap < 0 ? "" : s.substring(gap + 2);
        byte[] a = groups(head, gap < 0);
        byte[] b = gap < 0 ? new byte[0] : groups(tail, true);
        if (a == null || b == null) {
            return null;
        }
        if (gap < 0 ? a.length != 16 : a.length + b.length > 14) {
            return null;
        }
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, 16 - b.length, b.length);
        return out;
    }

    /** The bytes of colon-separated hex groups (the last may be a dotted IPv4); "" is none. */
    private static byte[] groups(String s, boolean ipv4Last) {
        if (s.isEmpty()) {
            return new byte[0];
        }
        String[] parts = s.split(":", -1);
        byte[] out = new byte[parts.length * 2 + 2];
        int n = 0;
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i];
            if (ipv4Last && i == parts.length - 1 && p.indexOf('.') >= 0) {
                byte[] v4 = parseIpv4(p);
                if (v4 == null) {
                    return null;
                }
                System.arraycopy(v4, 0, out, n, 4);
                n += 4;
                continue;
            }
            if (p.isEmpty() || p.length() > 4) {
                return null;
            }
            int v = 0;
            for (int k = 0; k < p.length(); k++) {
                int d = Character.digit(p.charAt(k), 16);
                if (d < 0 || p.charAt(k) > 'f') {
                    return null;
                }
                v = v * 16 + d;
            }
            out[n++] = (byte) (v >>> 8);
            out[n++] = (byte) v;
        }
        return Arrays.copyOf(out, n);
    }

    /** The mask of a CIDR suffix: decimal bits, at most 32 or 128. */
    private static byte[] prefixMask(String bits, int length) {
        if (bits.isEmpty() || bits.length() > 3 || !bits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return null;
        }
        int n = Integer.parseInt(bits);
        if (n > length * 8) {
            return null;
        }
        byte[] mask = new byte[length];
        for (int i = 0; i < length; i++) {
            int left = n - i * 8;
            mask[i] = (byte) (left >= 8 ? 0xff : left <= 0 ? 0 : (0xff << (8 - left)));
        }
        return mask;
    }

    private static boolean fitsMask(byte[] address, byte[] mask) {
        for (int i = 0; i < address.length; i++) {
            if ((address[i] & ~mask[i]) != 0) {
                return false;
            }
        }
        return true;
    }
}
