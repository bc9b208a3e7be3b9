"""Web access: an Application Load Balancer (internet-facing or internal) in front of the web service."""

from __future__ import annotations

from aws_cdk import Annotations, Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.settings import WebAccessMode
from cdk.web.access_logs import enable_access_logs

WEB_PORT = 8080
HEALTH_CHECK_PATH = "/health"


class WebAccess(Construct):
    """ALB with HTTPS when a certificate is given (HTTP then redirects), open only to ``allowed_cidrs``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        mode: WebAccessMode,
        allowed_cidrs: tuple[str, ...],
        certificate_arn: str,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, id)
        self.https = bool(certificate_arn)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False, description="Windsock web load balancer"
        )
        public = mode is WebAccessMode.PUBLIC_ONLY
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=public,
            vpc_subnets=subnets,
            security_group=self.security_group,
            drop_invalid_header_fields=True,
        )
        enable_access_logs(self, load_balancer=self.load_balancer, bucket=access_logs, prefix="alb")
        self._open(allowed_cidrs)
        self.listener = self._listeners(certificate_arn)

    @property
    def url(self) -> str:
        """The web UI's base URL."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.load_balancer.load_balancer_dns_name}"

    def _open(self, allowed_cidrs: tuple[str, ...]) -> None:
        """Ingress on the listener ports from the allowed CIDRs only; warn while that is nobody or everybody."""
        if not allowed_cidrs:
            Annotations.of(self).add_warning_v2(
                "windsock:web-closed",
                "allowed_cidrs is empty: the load balancer admits no one; pass -c allowed_cidrs=<your CIDR> "
                "(e.g. your machine's public IP /32) to reach the web UI",
            )
        if "0.0.0.0/0" in allowed_cidrs:
            Annotations.of(self).add_warning_v2(
                "windsock:web-open-without-sign-in",
                "allowed_cidrs contains 0.0.0.0/0: the web UI's sign-in is reachable from the whole internet "
                "(only IAM identities the environment maps get in); restrict it to your own CIDRs if you can",
            )
        ports = [443, 80] if self.https else [80]
        for cidr in allowed_cidrs:
            for port in ports:
                self.security_group.add_ingress_rule(
                    ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"web from {cidr}"
                )

    def _listeners(self, certificate_arn: str) -> elbv2.ApplicationListener:
        """HTTPS listener plus an HTTP->HTTPS redirect, or a plain HTTP listener without a certificate."""
        if not self.https:
            Annotations.of(self).add_warning_v2(
                "windsock:web-without-https",
                "no certificate_arn: the web UI is served over plain HTTP; pass -c certificate_arn=... for HTTPS",
            )
            return self.load_balancer.add_listener("Http", port=80, open=False)
        self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)
        return self.load_balancer.add_listener(
            "Https",
            port=443,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
        )

    def route_to(self, target: elbv2.IApplicationLoadBalancerTarget) -> elbv2.ApplicationTargetGroup:
        """Forward every request to the web server container; health check on ``/health``."""
        return self.listener.add_targets(
            "Web",
            port=WEB_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[target],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_CHECK_PATH, healthy_http_codes="200", interval=Duration.seconds(30)
            ),
        )
