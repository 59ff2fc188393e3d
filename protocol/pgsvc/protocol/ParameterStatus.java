package pgsvc.protocol;

/** ParameterStatus: the server reports the current value of a run-time parameter (server_version, TimeZone...). */
public record ParameterStatus(String name, String value) {
}
