namespace LayerStats.Core.Model;

/// <summary>The media types of the OCI image spec and Docker's distribution formats.</summary>
public static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciLayerNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestV1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerManifestV1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    public const string DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsImageConfig(string? mediaType) => mediaType is OciConfig or DockerConfig;

    /// <summary>Layers whose blob a registry need not hold (foreign / non-distributable): recorded, not failed.</summary>
    public static bool IsNonDistributable(string? mediaType) =>
        mediaType is DockerForeignLayer or OciLayerNonDistributable or OciLayerNonDistributableGzip or OciLayerNonDistributableZstd;
}
