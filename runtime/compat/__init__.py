"""Airflow compatibility: ``import airflow...`` served by Windsock's SDK when Apache Airflow is absent."""

from runtime.compat.importer import (
    UnsupportedAirflowModule,
    airflow_installed,
    install_import_hook,
    uninstall_import_hook,
)

__all__ = ["install_import_hook", "uninstall_import_hook", "airflow_installed", "UnsupportedAirflowModule"]
