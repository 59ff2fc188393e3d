package pgsvc.pooler.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code auth_ident_file} that {@code map=} options of HBA rules name, as PgBouncer's {@code ident_load_map}
 * reads it: {@code map-name system-user database-user} per line, the database user either a name or {@code all}.
 * No regular expressions, no {@code +group}, no includes. A bad line is skipped with a warning. Immutable.
 */
public final class IdentFile {
    /** One named map: the mappings of its lines, in file order. */
    public record IdentMap(String name, List<Mapping> mappings) {
        public IdentMap {
            mappings = List.copyOf(mappings);
        }

        /** Whether the OS (or certificate) user {@code systemUser} may log in as {@code databaseUser}. */
        public boolean allows(String systemUser, String databaseUser) {
            for (Mapping m : mappings) {
                if (m.systemUser().equals(systemUser)
                        && (m.databaseUser() == null || m.databaseUser().equals(databaseUser))) {
                    return true;
                }
            }
            return false;
        }
    }

    /** One line of a map; a null {@code databaseUser} is {@code all}. */
    public record Mapping(String systemUser, String databaseUser) {
    }

    private final Map<String, IdentMap> maps;
    private final List<String> warnings;

    private IdentFile(Map<String, IdentMap> maps, List<String> warnings) {
        this.maps = Collections.unmodifiableMap(maps);
        this.warnings = List.copyOf(warnings);
    }

    /** Reads the file; only an unreadable file is an error, a bad line is a warning. */
    public static IdentFile load(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        Map<String, List<Mapping>> byName = new LinkedHashMap<>();
        List<String> warnings = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String problem = parseLine(lines[i], byName);
            if (problem != null) {
                warnings.add(file + ":" + (i + 1) + ": " + problem + "; line skipped");
            }
        }
        Map<String, IdentMap> maps = new LinkedHashMap<>();
        byName.forEach((name, mappings) -> maps.put(name, new IdentMap(name, mappings)));
        return new IdentFile(maps, warnings);
    }

    private static String parseLine(String line, Map<String, List<Mapping>> byName) {
        HbaTokens t = new HbaTokens(line);
        if (t.type() == HbaTokens.Type.EOL) {
            return null;
        }
        if (t.type() != HbaTokens.Type.IDENT) {
            return "expected a map name";
        }
        String name = t.text();
        t.next();
        if (!t.isName()) {
            return "expected a system user name";
        }
        String systemUser = t.text();
        t.next();
        String databaseUser;
        if (t.isKeyword("all")) {
            databaseUser = null;
        } else if (t.isName()) {
            databaseUser = t.text();
        } else {
            return "expected a database user name or all";
        }
        t.next();
        if (t.type() != HbaTokens.Type.EOL) {
            return "unsupported parameters";
        }
        byName.computeIfAbsent(name, k -> new ArrayList<>()).add(new Mapping(systemUser, databaseUser));
        return null;
    }

    /** The map with this name, or null. */
    public IdentMap map(String name) {
        return maps.get(name);
    }

    /** Skipped lines, each {@code <path>:<line>: <problem>; line skipped}. */
    public List<String> warnings() {
        return warnings;
    }
}
