package pgsvc.pooler.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * OS user names by uid, read once from a passwd file, so that {@code peer} authentication can name the peer of a Unix
 * socket without a blocking {@code getpwuid} on an event loop. Users that only a directory service (NSS: LDAP, sssd)
 * knows are not in the file, and peer authentication fails for them. Immutable.
 */
public final class OsUsers {
    public static final Path PASSWD = Path.of("/etc/passwd");
    static final OsUsers NONE = new OsUsers(Map.of());

    private final Map<Integer, String> names;

    private OsUsers(Map<Integer, String> names) {
        this.names = Map.copyOf(names);
    }

    /** Reads {@code name:password:uid:...} lines; the first line with a given uid names it, as getpwuid does. */
    public static OsUsers load(Path passwd) throws IOException {
        Map<Integer, String> names = new HashMap<>();
        for (String line : Files.readAllLines(passwd, StandardCharsets.UTF_8)) {
            String[] f = line.split(":", -1);
            if (f.length < 3 || f[0].isEmpty() || f[0].startsWith("#") || f[0].startsWith("+")
                    || f[0].startsWith("-")) {
                continue;
            }
            try {
                names.putIfAbsent(Integer.parseUnsignedInt(f[2]), f[0]);
            } catch (NumberFormatException e) {
                // not a passwd entry
            }
        }
        return new OsUsers(names);
    }

    /** The user name of this uid, or null when the file does not list it. */
    public String name(int uid) {
        return names.get(uid);
    }
}
