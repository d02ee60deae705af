/// The release of this build: what `--version` prints on `longrund`, `longrun` and `longrun-replay`,
/// and what `longrun.v1.Admin/GetServerInfo` reports. One definition, so the three never disagree.
public enum LongrunVersion {
    public static let current = "0.1.0"
}
