"""The words of the family portal, in English and Spanish (on top of web/words.py)."""

FAMILY_WORDS = {
    "en": {
        "sign_in_intro": "Enter the email address your school has on file for you. We will email you a link "
                         "to sign in.",
        "email": "Email address",
        "send_link": "Email me a sign-in link",
        "link_on_its_way": "If this address is on the roster, a link is on its way. It works once, "
                           "for 15 minutes.",
        "link_invalid": "This sign-in link is not valid or has expired. Links work once, for 15 minutes. "
                        "Please ask for a new one.",
        "ask_again": "Ask for a new sign-in link",
        "too_many": "Too many attempts from your connection. Please wait a few minutes and try again.",
        "expired_form": "The form expired. Please reload the page and try again.",
        "sign_in_again": "Please sign in again.",
        "not_found": "There is nothing to show here.",
        "people": "People you receive school health information about today",
        "nobody": "There is nobody you receive school health information about today.",
        "open": "Open",
        "status_today": "Status today",
        "latest_results": "Latest results",
        "no_results": "No results on file.",
        "notices": "Notices sent to you",
        "no_notices": "None.",
        "kinds": {"result-available": "A result is available", "test-overdue": "A test is overdue",
                  "return-to-school": "May return to school", "exemption-ending": "Exemption ending"},
        "attestation": "Today's symptom check",
        "q_fever": "Fever (100.4 °F / 38 °C or higher) today?",
        "q_cough": "A new cough today?",
        "q_contact": "Close contact with someone who tested positive in the last 10 days?",
        "yes": "Yes", "no": "No", "submit": "Send",
        "answer_all": "Please answer every question.",
        "attested": "Today's symptom check is recorded.",
        "attested_yes": "Today's symptom check is recorded with a \"yes\": please keep them home and contact "
                        "the school.",
        "pass_link": "Show today's pass",
        "no_pass": "No daily pass today: a pass needs a clear status and today's symptom check answered "
                   "\"no\" to every question.",
        "not_configured": "The daily pass is not configured for this district (daily pass not configured).",
        "pass_title": "Daily pass",
        "pass_for": "Valid on {date} only.",
        "pass_text": "Pass code",
        "home": "Back to the list",
        "sign_out": "Sign out",
        "signed_out": "You are signed out.",
        "email_subject": "Your sign-in link",
        "email_body": "Use this link to sign in to the school testing program family portal. It works once, "
                      "for 15 minutes:\n\n{link}\n\nIf you did not ask for it, you can ignore this message.\n",
    },
    "es": {
        "sign_in_intro": "Ingrese el correo electrónico que su escuela tiene registrado. Le enviaremos un "
                         "enlace para entrar.",
        "email": "Correo electrónico",
        "send_link": "Enviarme un enlace para entrar",
        "link_on_its_way": "Si este correo está en el registro escolar, le enviamos un enlace. Funciona una "
                           "sola vez, durante 15 minutos.",
        "link_invalid": "Este enlace para entrar no es válido o venció. Los enlaces funcionan una sola vez, "
                        "durante 15 minutos. Pida uno nuevo.",
        "ask_again": "Pedir un nuevo enlace",
        "too_many": "Demasiados intentos desde su conexión. Espere unos minutos e inténtelo de nuevo.",
        "expired_form": "El formulario venció. Vuelva a cargar la página e inténtelo de nuevo.",
        "sign_in_again": "Vuelva a entrar, por favor.",
        "not_found": "No hay nada que mostrar aquí.",
        "people": "Personas de quienes recibe información de salud escolar hoy",
        "nobody": "Hoy no recibe información de salud escolar de nadie.",
        "open": "Abrir",
        "status_today": "Situación hoy",
        "latest_results": "Últimos resultados",
        "no_results": "No hay resultados registrados.",
        "notices": "Avisos que se le enviaron",
        "no_notices": "Ninguno.",
        "kinds": {"result-available": "Hay un resultado disponible", "test-overdue": "Una prueba está atrasada",
                  "return-to-school": "Puede regresar a la escuela", "exemption-ending": "La exención termina"},
        "attestation": "Control de síntomas de hoy",
        "q_fever": "¿Fiebre hoy (100.4 °F / 38 °C o más)?",
        "q_cough": "¿Tos nueva hoy?",
        "q_contact": "¿Contacto cercano con alguien que dio positivo en los últimos 10 días?",
        "yes": "Sí", "no": "No", "submit": "Enviar",
        "answer_all": "Responda todas las preguntas, por favor.",
        "attested": "El control de síntomas de hoy quedó registrado.",
        "attested_yes": "El control de síntomas de hoy quedó registrado con un \"sí\": manténgalo en casa y "
                        "comuníquese con la escuela.",
        "pass_link": "Mostrar el pase de hoy",
        "no_pass": "Hoy no hay pase diario: el pase requiere una situación sin restricciones y el control de "
                   "síntomas de hoy respondido \"no\" en todas las preguntas.",
        "not_configured": "El pase diario no está configurado en este distrito (daily pass not configured).",
        "pass_title": "Pase diario",
        "pass_for": "Válido solo el {date}.",
        "pass_text": "Código del pase",
        "home": "Volver a la lista",
        "sign_out": "Salir",
        "signed_out": "Salió de su sesión.",
        "email_subject": "Su enlace para entrar",
        "email_body": "Use este enlace para entrar al portal para familias del programa de pruebas escolares. "
                      "Funciona una sola vez, durante 15 minutos:\n\n{link}\n\nSi no lo pidió, puede ignorar "
                      "este mensaje.\n",
    },
}
