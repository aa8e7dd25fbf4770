namespace LayerStats.Tests.RegistryE2E;

/// <summary>Debian's skopeo (1.9), to fill a test registry and to read back what it holds.</summary>
public static class Skopeo
{
    private static string Binary => ExternalTool.Require("skopeo", "skopeo");

    /// <summary>
    /// <c>skopeo copy --all --preserve-digests</c>: every platform of an index, manifests byte-identical, so the image ids
    /// (manifest digests) in the registry are those on disk.
    /// </summary>
    public static void Copy(string source, string destination, string? destinationCredentials = null)
    {
        var args = new List<string> { "copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false" };
        if (destinationCredentials is not null)
        {
            args.Add("--dest-creds");
            args.Add(destinationCredentials);
        }

        args.Add(source);
        args.Add(destination);
        ExternalTool.Run(Binary, args, timeout: TimeSpan.FromMinutes(2)).EnsureSuccess($"skopeo copy {source} {destination}");
    }

    /// <summary><c>skopeo inspect --raw</c>: the manifest or index bytes exactly as served.</summary>
    public static byte[] InspectRaw(string reference, string? credentials = null)
    {
        var args = new List<string> { "inspect", "--raw", "--tls-verify=false" };
        if (credentials is not null)
        {
            args.Add("--creds");
            args.Add(credentials);
        }

        args.Add(reference);
        // Manifests are ASCII JSON; the text round trip keeps their bytes.
        string raw = ExternalTool.Run(Binary, args).EnsureSuccess($"skopeo inspect --raw {reference}").Stdout;
        return System.Text.Encoding.UTF8.GetBytes(raw);
    }
}
